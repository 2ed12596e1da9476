import { recipe } from "sous";

export default recipe(({ node, resources: { directory, file } }) => {
  const root = String((node.attributes.webapp as { root: string }).root);
  directory(`${root}/etc`, { mode: "0755", recursive: true });
  file(`${root}/etc/managed-by`, { content: `Managed by Sous on ${node.hostname} (${node.platform} ${node.platformVersion})\n`, mode: "0644" });
});
