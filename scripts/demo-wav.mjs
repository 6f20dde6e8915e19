// Writes a small PCM WAV (a 440 Hz tone) for the walkthrough: node scripts/demo-wav.mjs out.wav [seconds]
import { writeFileSync } from 'node:fs';

const [out = 'demo.wav', seconds = '10'] = process.argv.slice(2);
const rate = 8000;
const samples = rate * Number(seconds);
const buf = Buffer.alloc(44 + samples * 2);
buf.write('RIFF', 0);
buf.writeUInt32LE(36 + samples * 2, 4);
buf.write('WAVEfmt ', 8);
buf.writeUInt32LE(16, 16);
buf.writeUInt16LE(1, 20); // PCM
buf.writeUInt16LE(1, 22); // mono
buf.writeUInt32LE(rate, 24);
buf.writeUInt32LE(rate * 2, 28);
buf.writeUInt16LE(2, 32);
buf.writeUInt16LE(16, 34);
buf.write('data', 36);
buf.writeUInt32LE(samples * 2, 40);
for (let i = 0; i < samples; i++)
  buf.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), 44 + i * 2);
writeFileSync(out, buf);
