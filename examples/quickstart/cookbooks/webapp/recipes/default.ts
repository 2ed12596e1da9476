import { recipe } from "sous";
import type defaults from "../attributes.js";

export default recipe<typeof defaults>(({ node, includeRecipe, resources: { directory, file, template, link, execute } }) => {
  const app = node.attributes.webapp;
  includeRecipe("base");

  for (const dir of ["releases", "shared", "shared/config", "shared/log", `releases/${app.release}`]) {
    directory(`${app.root}/${dir}`, { mode: "0755", recursive: true });
  }
  file(`${app.root}/releases/${app.release}/index.html`, { source: "index.html", mode: "0644" });

  const config = template(`${app.root}/shared/config/app.ini`, {
    source: "app.ini.ejs",
    mode: "0640",
    variables: { port: app.port, workers: app.workers, banner: app.banner, hosts: app.hosts },
  });
  link(`${app.root}/releases/${app.release}/app.ini`, { to: `${app.root}/shared/config/app.ini` });
  link(`${app.root}/current`, { to: `${app.root}/releases/${app.release}` });

  // Runs once: "creates" makes it idempotent.
  execute("initialize log", {
    command: ["sh", "-c", `echo "initialized $(date -u +%FT%TZ)" > ${app.root}/shared/log/init.log`],
    creates: `${app.root}/shared/log/init.log`,
  });

  // Only when the configuration changed: a notification from the template.
  execute("reload webapp", {
    command: ["sh", "-c", `date -u +%FT%TZ > ${app.root}/shared/log/reloaded-at`],
    action: "nothing",
    subscribes: { run: config },
  });
});
