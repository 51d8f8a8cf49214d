import { pathToFileURL } from 'node:url';

/**
 * Imports a user file (task or config) and returns its default export. TypeScript files go
 * through tsx's `tsImport`, which works whether or not the user's package.json says
 * `"type": "module"`; there tsx compiles to CommonJS and the default export arrives wrapped
 * once more (`{ default: … }`), which is unwrapped here.
 */
export async function importDefault(file: string): Promise<unknown> {
  const url = pathToFileURL(file).href;
  const mod = /\.[mc]?ts$/.test(file)
    ? ((await (await import('tsx/esm/api')).tsImport(url, import.meta.url)) as { default?: unknown })
    : ((await import(url)) as { default?: unknown });
  let d = mod.default;
  if (d && typeof d === 'object' && 'default' in d && Object.keys(d).length === 1)
    d = (d as { default: unknown }).default;
  return d;
}
