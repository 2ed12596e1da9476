/**
 * Sous's built-in resource types: one line per type. The registry registers every type
 * exported here, and recipes get each as a function of `resources` (named by its type, in
 * camel case) whose TypeScript type is derived from the type's property specs.
 */
export { aptRepositoryType } from "./apt_repository.js";
export { aptUpdateType } from "./apt_update.js";
export { archiveType } from "./archive.js";
export { codeType } from "./code.js";
export { cronType } from "./cron.js";
export { directoryType } from "./directory.js";
export { executeType } from "./execute.js";
export { fileType } from "./file.js";
export { gitType } from "./git.js";
export { groupType } from "./group.js";
export { hostnameType } from "./hostname.js";
export { lineType } from "./line.js";
export { linkType } from "./link.js";
export { mountType } from "./mount.js";
export { packageType } from "./package.js";
export { remoteFileType } from "./remote_file.js";
export { serviceType } from "./service.js";
export { sysctlType } from "./sysctl.js";
export { systemdUnitType } from "./systemd_unit.js";
export { templateType } from "./template.js";
export { userType } from "./user.js";
