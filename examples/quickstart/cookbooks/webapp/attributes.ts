import { attributes } from "sous";

/** Defaults of the webapp cookbook. */
export default attributes({
  webapp: {
    root: "/srv/webapp",
    port: 8080,
    workers: 2,
    banner: "",
    release: "2026-11-25-1",
    hosts: ["app-1.example.internal", "app-2.example.internal"],
  },
});
