// Reference tokenizer for the C# tokenizer tests: Hugging Face tokenizers (its Rust core, through the
// npm package @anush008/tokenizers) run over lines read from stdin.
//
//   node tokenizer-reference.mjs <install dir> <tokenizer.json> <mode>
//
// <install dir> holds node_modules/@anush008/tokenizers (the tests install it there). Modes:
//   encode       stdin: one JSON string per line; stdout: one JSON array of ids per line (add_special_tokens true)
//   encode-plain the same with add_special_tokens false
//   decode       stdin: one JSON array of ids per line; stdout: one JSON string per line (skip_special_tokens false)
//   decode-skip  the same with skip_special_tokens true
// When done it writes one JSON line to stderr: {"items", "tokens", "seconds"}, the time spent inside the
// tokenizer calls (each awaited in turn, so one encode runs at a time).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [installDir, tokenizerPath, mode] = process.argv.slice(2);
if (!installDir || !tokenizerPath || !['encode', 'encode-plain', 'decode', 'decode-skip'].includes(mode)) {
  console.error('usage: node tokenizer-reference.mjs <install dir> <tokenizer.json> encode|encode-plain|decode|decode-skip');
  process.exit(2);
}

const require = createRequire(join(installDir, 'package.json'));
const { Tokenizer } = require('@anush008/tokenizers');
const tokenizer = Tokenizer.fromFile(tokenizerPath);

const lines = readFileSync(0, 'utf8').split('\n').filter(line => line.length > 0);
const inputs = lines.map(line => JSON.parse(line));
const outputs = new Array(inputs.length);
let tokens = 0;
let elapsed = 0;

for (let i = 0; i < inputs.length; i++) {
  const started = process.hrtime.bigint();
  if (mode.startsWith('encode')) {
    const encoding = await tokenizer.encode(inputs[i], null, { addSpecialTokens: mode === 'encode' });
    const ids = encoding.getIds();
    elapsed += Number(process.hrtime.bigint() - started);
    tokens += ids.length;
    outputs[i] = JSON.stringify(ids);
  } else {
    const text = await tokenizer.decode(inputs[i], mode === 'decode-skip');
    elapsed += Number(process.hrtime.bigint() - started);
    tokens += inputs[i].length;
    outputs[i] = JSON.stringify(text);
  }
}

process.stdout.write(outputs.map(line => line + '\n').join(''));
process.stderr.write(JSON.stringify({ items: inputs.length, tokens, seconds: elapsed / 1e9 }) + '\n');
