/**
 * invoice-pdf: draws a PDF invoice with pdfkit.
 *
 * Body `{ number, customer, items: [{ description, quantity, unitPrice }], currency? }` (currency
 * an ISO 4217 code, default EUR) → `{ path, bytes, total }`. The file is
 * `invoice-<number>.pdf` in `TASKBUS_EXAMPLES_OUT` (default `<os tmpdir>/taskbus-examples`);
 * it is written to a temporary name and renamed, so a retry replaces it and a reader never
 * sees half a file. Amounts are summed in minor units (cents), so 0.1 + 0.2 totals 0.3.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import PDFDocument from 'pdfkit';

type TaskContext = { id?: string; enqueuedAt?: number; signal?: AbortSignal };
type Item = { description: string; quantity: number; unitPrice: number };
type InvoiceBody = { number: string; customer: string; items: Item[]; currency?: string };

function outDir(): string {
  return process.env.TASKBUS_EXAMPLES_OUT || join(tmpdir(), 'taskbus-examples');
}

type Totals = { money: Intl.NumberFormat; minor: number; lines: number[]; total: number };

function draw(
  doc: PDFKit.PDFDocument,
  body: InvoiceBody,
  date: Date,
  { money, minor, lines, total }: Totals,
) {
  doc.fontSize(20).text(`Invoice ${body.number}`);
  doc.fontSize(10).text(`Date: ${date.toISOString().slice(0, 10)}`);
  doc.moveDown().text('Bill to:').text(body.customer).moveDown();

  // A row is as tall as its description, which may wrap within its 260-point column.
  const row = (cells: string[], y: number, font = 'Helvetica') => {
    doc.font(font).text(cells[0], 50, y, { width: 260 });
    doc.text(cells[1], 320, y, { width: 60, align: 'right' });
    doc.text(cells[2], 390, y, { width: 80, align: 'right' });
    doc.text(cells[3], 480, y, { width: 70, align: 'right' });
    return y + doc.heightOfString(cells[0], { width: 260 }) + 6;
  };
  let y = doc.y;
  const makeRoom = (height: number) => {
    if (y + height > doc.page.height - doc.page.margins.bottom) {
      doc.addPage();
      y = doc.y;
    }
  };
  y = row(['Description', 'Quantity', 'Unit price', 'Amount'], y, 'Helvetica-Bold');
  body.items.forEach((item, i) => {
    makeRoom(doc.heightOfString(item.description, { width: 260 }));
    y = row(
      [item.description, String(item.quantity), money.format(item.unitPrice), money.format(lines[i] / minor)],
      y,
    );
  });
  makeRoom(30);
  doc.fontSize(12).text(`Total: ${money.format(total)}`, 50, y + 10, { width: 500, align: 'right' });
}

async function handler(body: InvoiceBody, ctx?: TaskContext) {
  if (!Array.isArray(body?.items) || body.items.length === 0) {
    throw new TypeError('invoice-pdf: body.items must be a non-empty array');
  }
  const money = new Intl.NumberFormat('en', { style: 'currency', currency: body.currency ?? 'EUR' });
  const minor = 10 ** money.resolvedOptions().maximumFractionDigits!;
  const lines = body.items.map((item) => Math.round(item.quantity * item.unitPrice * minor));
  const total = lines.reduce((a, b) => a + b, 0) / minor;
  // The request's date, not the attempt's, so every retry draws the same invoice.
  const date = new Date(ctx?.enqueuedAt ?? Date.now());

  ctx?.signal?.throwIfAborted();
  await mkdir(outDir(), { recursive: true });
  const path = join(outDir(), `invoice-${String(body.number).replace(/[^A-Za-z0-9_-]/g, '-')}.pdf`);
  const partial = `${path}.${ctx?.id ?? randomUUID()}.partial`;
  const doc = new PDFDocument({
    size: 'A4',
    margin: 50,
    info: { Title: `Invoice ${body.number}`, CreationDate: date },
  });
  try {
    const written = pipeline(doc, createWriteStream(partial), { signal: ctx?.signal });
    draw(doc, body, date, { money, minor, lines, total });
    doc.end();
    await written;
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  await rename(partial, path);
  return { path, bytes: (await stat(path)).size, total };
}

export default {
  handler,
  maxDeliveryCount: 3,
  backoff: { type: 'exponential', delayMs: 1000, maxDelayMs: 30_000 },
  timeoutMs: 60_000,
  concurrency: 4,
  schema: {
    type: 'object',
    required: ['number', 'customer', 'items'],
    additionalProperties: false,
    properties: {
      number: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$' },
      customer: { type: 'string', minLength: 1, maxLength: 1000 },
      currency: { type: 'string', pattern: '^[A-Z]{3}$' },
      items: {
        type: 'array',
        minItems: 1,
        maxItems: 1000,
        items: {
          type: 'object',
          required: ['description', 'quantity', 'unitPrice'],
          additionalProperties: false,
          properties: {
            description: { type: 'string', minLength: 1, maxLength: 500 },
            quantity: { type: 'number', exclusiveMinimum: 0 },
            unitPrice: { type: 'number', minimum: 0 },
          },
        },
      },
    },
  },
};
