import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import task from '../../examples/tasks/resize-image.ts';
import { fakeContext, useOutputDir } from './context.ts';

let out: Awaited<ReturnType<typeof useOutputDir>>;
before(async () => {
  out = await useOutputDir();
});
after(() => out.cleanup());

const solid = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 40 } } });

test('resize-image › resizes a base64 PNG to the width, keeping the aspect ratio', async () => {
  const png = await solid(400, 200).png().toBuffer();
  const result = await task.handler(
    { imageBase64: png.toString('base64'), width: 100 },
    fakeContext('resize-image'),
  );
  const { imageBase64, ...info } = result;
  assert.deepEqual(info, {
    width: 100,
    height: 50,
    format: 'png',
    bytes: Buffer.byteLength(imageBase64!, 'base64'),
  });
  const meta = await sharp(Buffer.from(imageBase64!, 'base64')).metadata();
  assert.deepEqual([meta.width, meta.height, meta.format], [100, 50, 'png']);
});

test('resize-image › crops to width and height and converts to the format asked for', async () => {
  const png = await solid(300, 200).png().toBuffer();
  const body = {
    imageBase64: `data:image/png;base64,${png.toString('base64')}`,
    width: 64,
    height: 64,
    format: 'jpeg' as const,
  };
  const result = await task.handler(body, fakeContext('resize-image'));
  const meta = await sharp(Buffer.from(result.imageBase64!, 'base64')).metadata();
  assert.deepEqual([meta.width, meta.height, meta.format], [64, 64, 'jpeg']);
});

test('resize-image › makes a 256-pixel thumbnail from raw image bytes', async () => {
  const jpeg = await solid(1024, 768).jpeg().toBuffer();
  const result = await task.handler(jpeg, fakeContext('resize-image'));
  assert.deepEqual([result.width, result.height, result.format], [256, 192, 'jpeg']);
});

test('resize-image › writes an output over 64 KiB to the output directory', async () => {
  // Noise does not compress: 400 × 400 RGB pixels make a PNG of about 480 KB.
  const noise = await sharp(randomBytes(200 * 200 * 3), { raw: { width: 200, height: 200, channels: 3 } })
    .png()
    .toBuffer();
  const ctx = fakeContext('resize-image');
  const result = await task.handler({ imageBase64: noise.toString('base64'), width: 400 }, ctx);
  assert.equal(result.imageBase64, undefined);
  assert.equal(result.path, join(out.dir, `${ctx.id}.png`));
  const meta = await sharp(result.path!).metadata();
  assert.deepEqual([meta.width, meta.height], [400, 400]);
  assert.equal((await stat(result.path!)).size, result.bytes);
  assert.ok(result.bytes > 64 * 1024);
  assert.deepEqual(await readdir(dirname(result.path!)), [`${ctx.id}.png`]);
});

test('resize-image › rejects a body that is not an image', async () => {
  const body = { imageBase64: Buffer.from('not an image').toString('base64'), width: 10 };
  await assert.rejects(
    task.handler(body, fakeContext('resize-image')),
    /resize-image: the input is not an image sharp can read/,
  );
});
