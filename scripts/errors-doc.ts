// Writes docs/errors.md from the error registry: `node --import tsx scripts/errors-doc.ts`.
import { writeFileSync } from 'node:fs';
import { ERRORS } from '../src/errors.ts';

const rows = Object.entries(ERRORS).map(
  ([code, d]) => `| \`${code}\` | ${d.status} | ${d.title} | ${d.doc} |`,
);
const text = `# Errors

Every error Taskbus raises on purpose has a stable code (src/errors.ts). Over HTTP it arrives as
\`application/problem+json\` (RFC 9457) with \`type\` = \`https://taskbus.dev/errors/<code in kebab case>\`,
\`title\`, \`status\`, \`detail\` and \`code\`; some add fields (\`errors\` for schema failures, \`header\`
for a bad option header).

| code | HTTP | title | when |
|---|---|---|---|
${rows.join('\n')}
`;
writeFileSync(new URL('../docs/errors.md', import.meta.url), text);
