/**
 * convert-file: CSV to JSON records (csv-parse) or Markdown to HTML (marked).
 *
 * Body `{ from: 'csv' | 'markdown', content }` → `{ to: 'json', output: records }` or
 * `{ to: 'html', output: html }`. The CSV's first row names the columns. The HTML is not
 * sanitized: raw HTML in the Markdown passes through, so sanitize before showing it to others.
 */
import { CsvError } from 'csv-parse';
import { parse } from 'csv-parse/sync';
import { marked } from 'marked';

type ConvertBody = { from: 'csv' | 'markdown'; content: string };
type ConvertResult = { to: 'json'; output: Record<string, string>[] } | { to: 'html'; output: string };

function csvToRecords(content: string): Record<string, string>[] {
  try {
    return parse(content, { columns: true, bom: true, skip_empty_lines: true, trim: true });
  } catch (err) {
    if (err instanceof CsvError) throw new Error(`convert-file: invalid CSV: ${err.message}`, { cause: err });
    throw err;
  }
}

async function handler(body: ConvertBody): Promise<ConvertResult> {
  const { from, content } = body ?? {};
  if (typeof content !== 'string') throw new TypeError('convert-file: body.content must be a string');
  if (from === 'csv') return { to: 'json', output: csvToRecords(content) };
  if (from === 'markdown') return { to: 'html', output: marked.parse(content, { async: false }) };
  throw new TypeError(`convert-file: body.from must be 'csv' or 'markdown', got ${JSON.stringify(from)}`);
}

export default {
  handler,
  // Conversion is deterministic, so a retry cannot fix bad input; the second delivery only
  // covers a worker lost mid-run.
  maxDeliveryCount: 2,
  backoff: { type: 'none' },
  timeoutMs: 10_000,
  schema: {
    type: 'object',
    required: ['from', 'content'],
    additionalProperties: false,
    properties: {
      from: { enum: ['csv', 'markdown'] },
      content: { type: 'string' },
    },
  },
};
