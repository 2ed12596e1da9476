// The `lucene` package ships no types; Sous only calls parse() and reads the plain-object tree.
declare module "lucene" {
  const lucene: { parse(query: string): unknown };
  export default lucene;
}
