/**
 * Forty documents a hostile or broken client may send, each of which must be refused
 * (400 or 413) without harm: entity bombs and external entities, deep nesting, floods
 * of elements, unclosed and mismatched tags, markup inside attributes, oversized
 * attributes, and SSML values that make no sense. Exported so that the parser's spec
 * and the server's end-to-end spec run the same list.
 */
const nested = (depth: number, name = 'prosody'): string =>
  `<speak>${`<${name}>`.repeat(depth)}x${`</${name}>`.repeat(depth)}</speak>`;

const billionLaughs = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<speak>&lol9;</speak>`;

export interface HostileDocument {
  name: string;
  markup: string;
}

export const HOSTILE_DOCUMENTS: readonly HostileDocument[] = [
  { name: 'billion laughs', markup: billionLaughs },
  { name: 'billion laughs without declaration', markup: '<speak>&lol9;</speak>' },
  {
    name: 'external entity (file)',
    markup:
      '<?xml version="1.0"?><!DOCTYPE speak [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><speak>&xxe;</speak>',
  },
  {
    name: 'external entity (http)',
    markup: '<!DOCTYPE speak [<!ENTITY xxe SYSTEM "http://127.0.0.1:1/x">]><speak>&xxe;</speak>',
  },
  {
    name: 'parameter entity',
    markup:
      '<!DOCTYPE speak [<!ENTITY % p SYSTEM "http://127.0.0.1:1/p.dtd"> %p;]><speak>x</speak>',
  },
  {
    name: 'external DTD',
    markup: '<!DOCTYPE speak SYSTEM "http://127.0.0.1:1/s.dtd"><speak>x</speak>',
  },
  { name: 'bare DOCTYPE', markup: '<!DOCTYPE speak><speak>x</speak>' },
  {
    name: 'quadratic blowup entity',
    markup: `<!DOCTYPE s [<!ENTITY a "${'a'.repeat(5000)}">]><speak>${'&a;'.repeat(2000)}</speak>`,
  },
  { name: '10,000 nested elements', markup: nested(10_000) },
  { name: '10,000 nested <s>', markup: nested(10_000, 's') },
  { name: '33 nested elements', markup: nested(33) },
  {
    name: '1,001 sibling elements',
    markup: `<speak>${'<break time="1ms"/>'.repeat(1001)}</speak>`,
  },
  { name: '5,000 sibling marks', markup: `<speak>${'<mark name="m"/>'.repeat(5000)}</speak>` },
  { name: 'unclosed <speak>', markup: '<speak>Hello' },
  { name: 'unclosed <prosody>', markup: '<speak><prosody rate="slow">Hello</speak>' },
  { name: 'mismatched tags', markup: '<speak><s><p>Hello</s></p></speak>' },
  { name: 'unopened close tag', markup: '<speak>Hello</voice></speak>' },
  { name: 'two roots', markup: '<speak>a</speak><speak>b</speak>' },
  { name: 'text after the root', markup: '<speak>a</speak>b' },
  { name: 'root is not speak', markup: '<prosody rate="slow">Hello</prosody>' },
  { name: 'nested speak', markup: '<speak><speak>Hello</speak></speak>' },
  { name: 'tag inside attribute', markup: '<speak><prosody rate="<break/>">x</prosody></speak>' },
  { name: 'unquoted attribute', markup: '<speak><break time=500ms/></speak>' },
  { name: 'duplicate attribute', markup: '<speak><break time="1s" time="2s"/></speak>' },
  { name: 'attribute with "<"', markup: '<speak><sub alias="a<b">x</sub></speak>' },
  {
    name: '1 MB attribute',
    markup: `<speak><sub alias="${'a'.repeat(1_048_576)}">x</sub></speak>`,
  },
  { name: '1 MB of text', markup: `<speak>${'word '.repeat(210_000)}</speak>` },
  { name: 'undefined entity', markup: '<speak>&nbsp;</speak>' },
  { name: 'broken character reference', markup: '<speak>&#xZZ;</speak>' },
  { name: 'NUL character reference', markup: '<speak>&#0;</speak>' },
  { name: 'processing instruction', markup: '<speak><?php system("id"); ?>x</speak>' },
  { name: 'unterminated comment', markup: '<speak><!-- x </speak>' },
  { name: 'unterminated CDATA', markup: '<speak><![CDATA[ x </speak>' },
  { name: 'break time absurd', markup: '<speak><break time="99999s"/></speak>' },
  { name: 'break time nonsense', markup: '<speak><break time="soon"/></speak>' },
  { name: 'rate zero', markup: '<speak><prosody rate="0%">x</prosody></speak>' },
  { name: 'rate negative', markup: '<speak><prosody rate="-200%">x</prosody></speak>' },
  {
    name: 'phoneme closing raw block',
    markup: '<speak><phoneme alphabet="ipa" ph="a]] [[b">x</phoneme></speak>',
  },
  {
    name: 'element inside say-as',
    markup: '<speak><say-as interpret-as="digits">1<break/>2</say-as></speak>',
  },
  {
    name: 'audio element (strict)',
    markup: '<speak><audio src="http://127.0.0.1:1/a.wav">x</audio></speak>',
  },
];
