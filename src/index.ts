/** Sous: infrastructure as TypeScript code. The public API for recipes and tools. */
export { VERSION } from "./version.js";
export { recipe, attributes, role, environment, config } from "./dsl.js";
export type { AttributeTree, NodeView, RecipeContext, Resources, CustomResources, RecipeDefinition, RoleDefinition, EnvironmentDefinition, SousConfig } from "./dsl.js";
export { defineResource } from "./custom-resource.js";
export type { CustomResourceOptions, CustomResourceType, ResourceActionContext, DeclarationFunction } from "./custom-resource.js";
export { prop } from "./core/properties.js";
export type { PropertySpec, PropertySpecs, InputOf, OutputOf, Presence } from "./core/properties.js";
export type { CommonProperties, ResourceRef, Guard, NotifySpec, Timing, Target, ResourceType, Provider, Plan, Change, ProviderContext } from "./core/resource.js";
export type { FileInput, FileAction } from "./resources/file.js";
export type { DirectoryInput, DirectoryAction } from "./resources/directory.js";
export type { LinkInput, LinkAction } from "./resources/link.js";
export type { TemplateInput, TemplateAction } from "./resources/template.js";
export type { RemoteFileInput, RemoteFileAction } from "./resources/remote_file.js";
export type { ExecuteInput, ExecuteAction } from "./resources/execute.js";
export type { CodeInput, CodeAction, CodeContext } from "./resources/code.js";
export type { Host, Command, ExecOptions, ExecResult, FileStat } from "./host/host.js";
export type { RunEvent } from "./core/events.js";
export * from "./facts/index.js";
