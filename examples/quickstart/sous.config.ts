import { config } from "sous";

export default config({
  runList: ["role[web]"],
  environment: "staging",
});
