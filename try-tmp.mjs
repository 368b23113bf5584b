import init from '@echogarden/espeak-ng-emscripten';
const m = await init();
const w = new m.eSpeakNGWorker();
function tp(t){ const p = w.text_to_phonemes(t,1).ptr; let e=p; while(m.HEAPU8[e]!==0)e++; return Buffer.from(m.HEAPU8.subarray(p,e)).toString('utf8'); }
w.set_voice(process.argv[2]||'en-us');
const lines = (await import('fs')).readFileSync(0,'utf8').split('\n---\n');
for (const l of lines) { if(!l) continue; console.log(JSON.stringify(l), '=>', JSON.stringify(tp(l))); }
