import { role } from "sous";

export default role({
  description: "A web application server",
  runList: ["recipe[base]", "recipe[webapp]"],
  defaultAttributes: { webapp: { workers: 4 } },
});
