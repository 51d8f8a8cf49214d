// The simplest task file: a bare async function, every setting at its default.
export default async function (body) {
  return { hello: body?.name ?? 'world' };
}
