import init from '@echogarden/espeak-ng-emscripten';
const m = await init();
const w = new m.eSpeakNGWorker();
function tp(t){ const p = w.text_to_phonemes(t,1).ptr; let e=p; while(m.HEAPU8[e]!==0)e++; return Buffer.from(m.HEAPU8.subarray(p,e)).toString('utf8'); }
w.set_voice('en-us');
const t0=Date.now();
const hits=[];
for (let c=0x21;c<0x30000;c++){ if(c>=0xd800&&c<0xe000) continue; if (c>=0x3400&&c<0xa000) continue; if(c>=0xac00&&c<0xd800) continue; if (c>=0x20000 && c<0x2fa20) continue;
  const ch=String.fromCodePoint(c);
  const out=tp('hello'+ch+' World');
  const n=out.split(' | ').length;
  if(n!==1) hits.push(c.toString(16)+':'+n);
}
console.log(Date.now()-t0,'ms');
console.log(hits.join(' '));
