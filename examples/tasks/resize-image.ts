/**
 * resize-image: resizes a PNG, JPEG or WebP image with sharp.
 *
 * Body: JSON `{ imageBase64, width, height?, fit?, format? }`, or the image itself posted with
 * an `image/png`, `image/jpeg` or `image/webp` content type: the handler then receives a Buffer
 * and makes a thumbnail 256 pixels wide in the same format.
 *
 * Result: `{ width, height, format, bytes }` plus either `imageBase64`, when the output is at
 * most 64 KiB, or `path`, a file in `TASKBUS_EXAMPLES_OUT` (default `<os tmpdir>/taskbus-examples`)
 * named after the task id, so a retry overwrites its own file. Results are stored with the
 * message, which is why large images go to disk rather than into the result.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

type TaskContext = { id?: string; signal?: AbortSignal };
type Format = 'png' | 'jpeg' | 'webp';
type Fit = 'cover' | 'contain' | 'fill' | 'inside' | 'outside';
type ResizeBody = { imageBase64: string; width: number; height?: number; fit?: Fit; format?: Format };
type ResizeResult = {
  width: number;
  height: number;
  format: string;
  bytes: number;
  imageBase64?: string;
  path?: string;
};

const FORMATS: readonly string[] = ['png', 'jpeg', 'webp'];
const INLINE_LIMIT = 64 * 1024;
const THUMBNAIL_WIDTH = 256;
// A 256 KiB PNG can decode to gigabytes; 40 megapixels (about 160 MB as RGBA) is plenty for
// the photos this example is for, and sharp's own default allows 268 megapixels.
const MAX_INPUT_PIXELS = 40_000_000;

function outDir(): string {
  return process.env.TASKBUS_EXAMPLES_OUT || join(tmpdir(), 'taskbus-examples');
}

function request(body: ResizeBody | Buffer): { input: Buffer } & Omit<ResizeBody, 'imageBase64'> {
  if (Buffer.isBuffer(body)) return { input: body, width: THUMBNAIL_WIDTH };
  if (typeof body?.imageBase64 !== 'string') {
    throw new TypeError('resize-image: body.imageBase64 must be a base64 string, or post the image bytes');
  }
  if (!Number.isInteger(body.width) || body.width < 1) {
    throw new TypeError('resize-image: body.width must be a positive integer');
  }
  // Accept a data URL as well as bare base64.
  const input = Buffer.from(body.imageBase64.replace(/^data:[^,]*,/, ''), 'base64');
  return { ...body, input };
}

async function handler(body: ResizeBody | Buffer, ctx?: TaskContext): Promise<ResizeResult> {
  const { input, width, height, fit = 'cover', format } = request(body);
  const image = sharp(input, { limitInputPixels: MAX_INPUT_PIXELS });
  const meta = await image.metadata().catch((err: Error) => {
    throw new Error(`resize-image: the input is not an image sharp can read (${err.message})`, {
      cause: err,
    });
  });
  const to = format ?? (FORMATS.includes(meta.format ?? '') ? (meta.format as Format) : 'png');
  ctx?.signal?.throwIfAborted();

  // rotate() with no angle applies the EXIF orientation, so phone photos come out upright.
  const { data, info } = await image
    .rotate()
    .resize({ width, height, fit })
    .toFormat(to)
    .toBuffer({ resolveWithObject: true });
  const result: ResizeResult = {
    width: info.width,
    height: info.height,
    format: info.format,
    bytes: info.size,
  };
  if (data.length <= INLINE_LIMIT) return { ...result, imageBase64: data.toString('base64') };

  ctx?.signal?.throwIfAborted();
  await mkdir(outDir(), { recursive: true });
  const path = join(outDir(), `${ctx?.id ?? randomUUID()}.${info.format}`);
  await writeFile(path, data);
  return { ...result, path };
}

export default {
  handler,
  maxDeliveryCount: 3,
  backoff: { type: 'fixed', delayMs: 2000 },
  timeoutMs: 30_000,
  // sharp runs on libuv's pool of 4 threads by default; more handlers at once only wait for
  // a thread while holding their decoded images in memory.
  concurrency: 4,
  schema: {
    type: 'object',
    required: ['imageBase64', 'width'],
    additionalProperties: false,
    properties: {
      imageBase64: { type: 'string', minLength: 1 },
      width: { type: 'integer', minimum: 1, maximum: 4096 },
      height: { type: 'integer', minimum: 1, maximum: 4096 },
      fit: { enum: ['cover', 'contain', 'fill', 'inside', 'outside'] },
      format: { enum: ['png', 'jpeg', 'webp'] },
    },
  },
};
