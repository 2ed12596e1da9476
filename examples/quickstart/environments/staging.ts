import { environment } from "sous";

export default environment({
  description: "Staging",
  cookbookVersions: { webapp: "~1.2.0" },
  overrideAttributes: { webapp: { banner: "STAGING" } },
});
