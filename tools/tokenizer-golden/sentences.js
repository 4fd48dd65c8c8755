'use strict';
// Inputs for the golden fixture. Everything here is written for this project or generated from a
// seeded PRNG, except the SMS Spam and ClaimBuster texts read by generate.js (both CC BY 4.0).
// CoNLL-2003 and Enron text must never end up in a committed fixture (licence), so they are not read here.

// Hand-written cases, grouped by what they exercise. Keep each string on one line so diffs stay readable.
const HANDCRAFTED = {
  accents: [
    'Café au lait in Zürich costs more than in São Paulo.',
    'A naïve coöperation between the rôle-players of the façade.',
    'Crème brûlée, jalapeño, piñata, smörgåsbord and Ångström.',
    'Émile Zola wrote "J\'accuse…!" in L\'Aurore.',
    'Łódź, Kraków, Gdańsk and Wrocław are Polish cities.',
    'Dvořák, Janáček and Smetana were Czech composers.',
    'Ørsted, Æsir and Østfold; straße vs STRASSE; ẞ is capital sharp s.',
    'İstanbul, ıspanak and IĞDIR: Turkish dotted and dotless i.',
    'Vietnamese: Tiếng Việt có dấu, Hà Nội, Thành phố Hồ Chí Minh.',
    'Decomposed: cafe\u0301, nai\u0308ve, Zu\u0308rich (combining marks already split).',
    'Stacked marks: a\u0301\u0316\u0300 o\u0308\u0304 e\u0323\u0302 x\u034f\u0301y.',
    'Ligatures ﬁ ﬂ ﬀ and ﬃ stay as they are; Ǆ ǅ ǆ and Ǳ ǲ ǳ are digraphs.',
    'Full width: ＡＢＣ１２３！？ and half width ｶﾀｶﾅ.',
    'Greek: ΟΔΟΣ, Σίσυφος, ἀρχή, ᾍδης, Ωμέγα.',
    'Roman numerals Ⅻ ⅻ and circled ⓐⓑⓒ Ⓐ.',
    'Kelvin sign K, Ohm sign Ω, Angstrom sign Å.',
    'Māori, Hawaiʻi and Tōkyō use macrons and the ʻokina.',
    'Fiancée, exposé, résumé, protégé, déjà vu.',
    'Lowercase expansions: İ, ẞ, ῼ, ᾈ, ǅ, ϴ.',
    'Georgian ᲠᲣᲡᲗᲐᲕᲔᲚᲘ and Cherokee ᏣᎳᎩ case.',
  ],
  punctuation: [
    'Hello, world! How are you? I\'m fine... thanks.',
    'Wait -- what?! No way!!! (Really?) [Yes.] {Sure}',
    'He said: "it\'s over" — and left; she replied ‘fine’.',
    'Dashes: a-b, a–b, a—b, a―b and a‐b.',
    'Quotes: «bonjour», „Hallo“, “hi”, ‘yo’, ‹x›, 「東京」, 『本』.',
    'Math: 2+2=4, 5*3/2<8, x^2 >= y, a|b, ~z, `code`.',
    'Symbols: § ¶ † ‡ • ‣ ※ ‰ ‱ ′ ″ ‴ ⁂ ¡ ¿.',
    'Currency: $5, €5, £5, ¥5, ₹5, ₩5, ₿0.01, 5¢.',
    'C++ and C# and F# are languages; so is .NET.',
    'Emoticons :-) ;-) :( :P <3 ^_^ o_O',
    '#hashtag @mention &amp; &lt;b&gt; 100%',
    'Ellipsis… and midline ⋯ and three dots ...',
    'Under_score, back\\slash, pipe|pipe, tilde~tilde.',
    'Apostrophes: don\'t, won’t, rock ’n’ roll, O\'Brien.',
    '¿Qué pasa? ¡Nada! Bueno…',
    'Brackets ⟨a⟩ ⟦b⟧ ⦃c⦄ 〈d〉 《e》 【f】.',
    'Arabic comma، semicolon؛ question؟ and Devanagari danda। ॥',
    'Chinese punctuation：你好，世界！（测试）。',
    '!!!???...,,,;;;:::',
    '"\'"\'"',
  ],
  urls_and_emails: [
    'Visit https://www.example.com/path/to/page?query=1&lang=en#section for details.',
    'Mail john.doe+news@example.co.uk or jane_doe@mail.example.org now.',
    'ftp://files.example.net/pub/file-1.2.3.tar.gz and http://localhost:8080/api/v1/items',
    'See www.bbc.co.uk/news/world-us-canada-12345678 and bit.ly/3xYz9Q.',
    'Our API is at https://api.example.com/v2/users/{id}/orders?since=2024-01-01T00:00:00Z.',
    'Contact: support@streambert.io, +1 (555) 123-4567, ext. 89.',
    'Git: git@github.com:org/repo.git, ssh://user@host:22/srv/repo.',
    'Path C:\\Program Files\\App\\app.exe and /usr/local/bin/app --flag=value.',
    'IP 192.168.0.1:443, IPv6 [2001:db8::1]:8080, MAC 00:1A:2B:3C:4D:5E.',
    'Unicode URL https://de.wikipedia.org/wiki/Zürich and mailto:café@exämple.com.',
  ],
  emoji: [
    'I love it 😍😍😍!',
    'Family: 👨‍👩‍👧‍👦 and couple 👩‍❤️‍👨 and flag 🏳️‍🌈.',
    'Skin tones: 👍🏻 👍🏼 👍🏽 👍🏾 👍🏿 and 🧑🏽‍💻.',
    'Flags 🇺🇸🇬🇧🇩🇪🇯🇵 and keycaps 1️⃣ #️⃣ *️⃣.',
    'Newer emoji 🥰 🥲 🫠 🫶 🪿 and older 😀 😂 🤣.',
    'Text vs emoji presentation: ☺ ☺️ ❤ ❤️ ✔ ✔️.',
    'Emoji glued to words: good👍job, fire🔥sale, 100💯.',
    '🎉🎉 Party time!! 🎂 Happy birthday @Sam 🎈',
    'Tag sequence 🏴󠁧󠁢󠁳󠁣󠁴󠁿 (Scotland) and 🏴󠁧󠁢󠁷󠁬󠁳󠁿 (Wales).',
    'Math alphanumerics 𝐀𝐁𝐂 𝒶𝒷𝒸 𝔸𝔹ℂ and old italic 𐌀𐌁.',
    'Playing cards 🂡🂱 and mahjong 🀄 and domino 🁣.',
    '😀',
    '👩🏿‍🔬👨🏼‍🚀🧕🏽🤷‍♀️🙆🏻‍♂️',
  ],
  numbers: [
    'Revenue rose to $3.5bn in Q3, up 12% from $3.1bn.',
    'About 12,000 people attended; 1,234,567.89 dollars were raised.',
    'The rate fell 0.25 percentage points to 4.75%.',
    'Call 0800-123-456 or +44 20 7946 0958 before 5:30pm.',
    'Dates: 2024-03-15, 15/03/2024, 03.15.2024, March 15th, 2024.',
    'Versions 1.2.3-beta+build.42 and v10.0.401.',
    'Scientific 6.022e23, 1.6E-19, -273.15°C, ±0.5, 3×10⁸ m/s.',
    'Fractions ½ ¼ ¾ ⅓ and superscripts x² y³ and subscripts H₂O CO₂.',
    'Ordinals 1st 2nd 3rd 4th 21st 102nd 1000000th.',
    'Roman MMXXIV and Arabic-Indic ٠١٢٣٤٥٦٧٨٩ and Devanagari ०१२३.',
    'Amounts: €1.2m, £350k, ¥10,000, USD 2.5 billion, 30bps.',
    'Phone 555.123.4567, ZIP 90210-1234, ISBN 978-3-16-148410-0.',
    '3.14159265358979323846264338327950288419716939937510582097494459230781640628620899',
    'Temperatures of 30°C/86°F; 45° angle; 5′ 11″ tall.',
  ],
  whitespace_and_control: [
    'tab\tseparated\tvalues\tand\ttrailing\t',
    'line one\nline two\r\nline three\rline four',
    '  leading and trailing spaces  ',
    'multiple     spaces   between    words',
    'no\u00a0break\u00a0space and narrow\u202fno-break and figure\u2007space',
    'em\u2003space en\u2002space thin\u2009space hair\u200aspace ideographic\u3000space',
    'zero\u200bwidth space and zero\u200cwidth non-joiner and zero\u200dwidth joiner',
    'soft\u00adhyphen and word\u2060joiner and bom\ufeffinside',
    'bidi \u200emarks\u200f and \u202aembedding\u202c and \u2066isolate\u2069',
    'controls \u0001\u0002\u0003 between \u0007bell \u001bescape \u007fdel',
    'vertical\u000btab and form\u000cfeed and next\u0085line',
    'line\u2028separator and paragraph\u2029separator',
    'null\u0000char and replacement\ufffdchar',
    'C1 controls \u0080\u0081\u009f inside\u0090word',
    'private use \ue000\uf8ff and \u{f0000} plane 15',
    'variation selectors a\ufe0eb\ufe0fc and \u{e0100}',
    'interlinear \ufff9a\ufffab\ufffb and object \ufffc',
    'Mongolian vowel separator a\u180eb, ogham\u1680space',
    'unassigned \u0378 \u{e0080} \u{2fffe} code points',
    '\t\n\r ',
    '',
    ' ',
    '\u200b',
    '\u200b\u200b hello \u200b',
  ],
  cjk_and_scripts: [
    '中文分词测试：北京是中国的首都。',
    '日本語のテキスト：東京タワーは高い。カタカナとひらがな。',
    '한국어 텍스트: 서울은 대한민국의 수도입니다.',
    'Mixed 中English文 and 漢字kanji and 한글hangul.',
    'CJK extensions: 㐀 (A), 𠀀 (B), 𪜀 (C), 𫝀 (D), 𫠠 (E), 𬺰 (F), 𰀀 (G).',
    'Compatibility ideographs 豈 更 車 and supplement 丽 丸.',
    'Arabic: مرحبا بالعالم، كيف حالك؟ اَلْعَرَبِيَّةُ',
    'Hebrew: שָׁלוֹם עוֹלָם and Yiddish ײַ.',
    'Russian: Привет, мир! Ёлка и ЙОГУРТ.',
    'Ukrainian: Ґанок, Їжак, Єнот, Ірпінь.',
    'Hindi: नमस्ते दुनिया, क़िला and ज़िन्दगी.',
    'Thai: สวัสดีชาวโลก and Lao ສະບາຍດີ.',
    'Bengali: আমি বাংলায় গান গাই। and Tamil: வணக்கம்.',
    'Armenian Բարեւ, Georgian გამარჯობა, Amharic ሰላም.',
    'Greek polytonic: Ἐν ἀρχῇ ἦν ὁ λόγος.',
    'Khmer ជំរាបសួរ and Myanmar မင်္ဂလာပါ and Tibetan བཀྲ་ཤིས.',
    'Hangul jamo ᄀᄁᄂ and compatibility jamo ㄱㄲㄴ and syllables 각갂갃.',
    'Bopomofo ㄅㄆㄇ and Yi ꀀꀁ and Cuneiform 𒀀𒀁.',
    'Egyptian hieroglyphs 𓀀𓀁 and Linear B 𐀀𐀁.',
    'Vertical forms ︐︑ and small forms ﹐﹑ and CJK compat ㈱ ㍿.',
  ],
  long_words: [
    'Pneumonoultramicroscopicsilicovolcanoconiosis and antidisestablishmentarianism.',
    'Rindfleischetikettierungsüberwachungsaufgabenübertragungsgesetz was a German law.',
    'Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch is in Wales.',
    'a'.repeat(99),
    'a'.repeat(100),
    'a'.repeat(101),
    'x '.repeat(5) + 'b'.repeat(100) + ' ' + 'c'.repeat(101) + ' end',
    'é'.repeat(100) + ' ' + 'é'.repeat(101),
    'e\u0301'.repeat(100),
    'e\u0301'.repeat(60) + 'x',
    '😀'.repeat(100) + ' ' + '😀'.repeat(101),
    '中'.repeat(150),
    'ab\u200b'.repeat(60),
    'İ'.repeat(100) + ' ' + 'İ'.repeat(101),
    'https://example.com/' + 'verylongpathsegment'.repeat(8) + '?q=' + 'z'.repeat(120),
    'SGVsbG8gV29ybGQhIFRoaXMgaXMgYSBiYXNlNjQgZW5jb2RlZCBzdHJpbmcgd2l0aCBubyBzcGFjZXMgYXQgYWxs' + 'QUFBQUFB'.repeat(10),
    'supercalifragilisticexpialidocious '.repeat(4).trim(),
    'un' + 'believ'.repeat(20) + 'able',
  ],
  news: [
    'WASHINGTON (Reuters) - The U.S. Senate on Tuesday passed a $1.2 trillion infrastructure bill.',
    'Dr. Smith, the company\'s C.E.O., said profits would rise 5.5% in 2025.',
    'Apple Inc. (AAPL.O) shares fell 2.3% to $182.52 on the Nasdaq.',
    'The S&P 500 index closed at 4,567.89, while the Dow Jones Industrial Average gained 0.4%.',
    'Mr. and Mrs. O\'Neill moved to St. Louis, Mo., in Jan. 2019.',
    'U.K. Prime Minister said the E.U. deal was "done" — or nearly.',
    'The WHO reported 1.5 million cases; the CDC said 12,345 deaths were confirmed.',
    'In 1969, Neil Armstrong said: "That\'s one small step for [a] man."',
    'GDP grew at an annualized 3.2% pace in the third quarter, the Commerce Department said.',
    'Tesla\'s Model-3 sales hit 500,000 units; Elon Musk tweeted "wow 🚀".',
    'Kiev/Kyiv, Beijing/Peking, Mumbai (Bombay) and Myanmar (Burma).',
    'The €750bn NextGenerationEU fund was approved by the Council on 21.07.2020.',
  ],
  combining_order: [
    // Canonical reordering (NFD) moves a surviving combining character past stripped ones; the reference
    // then assigns alignments by position, which these pin down.
    'a\u0301\u{1d165}b x\u{1d165}\u0301y \u0301\u{1d170}z',
    '\u01d8\u{1d165} ǘ\u0316\u{1d16d} \u{1d160}\u0301\u0316',
    'Balinese \u1b13\u1b44\u1b34 vs \u1b13\u1b34\u1b44 and Javanese \ua98f\ua9c0\ua9b3',
    'Arabic \u0628\u08d4\u0650 vs \u0628\u0650\u08d4 and \u0628\u0651\u08e1\u064e',
    'Glagolitic \u2c00\u{1e000}\u0316 and Adlam \u{1e900}\u{1e94a}\u{1e944}',
    'Hangul tone \uac00\u302e\u0301 and \u302f\u302a x',
    '\u{1d165}\u{1d16d}\u{1d165} \u{1d16d}\u{1d165}\u0301\u0345\u{1d170}',
    'zalgo h\u0336\u0301\u0316\u{1d165}\u0489\u035ce\u0310\u0324\u{1d16d}llo',
    'mixed \u0301\u200b\u{1d165} and \u0301\u00ad\u0316\u{1d172}.',
  ],
  special_token_lookalikes: [
    '[CLS] this is not a special token [SEP] [PAD] [MASK] [UNK]',
    '<s> </s> <pad> <unk> <mask> ##ing ## #',
    '[unused0] [unused99] [CLS][SEP]',
    '##',
    '###',
    'a##b ##a ##',
  ],
  mixed_edge: [
    'Hello',
    'hello',
    'HELLO',
    'a',
    'A.',
    '.',
    'I',
    'x y z',
    'unaffable',
    'The quick brown fox jumps over the lazy dog.',
    'THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG!',
    'tHe QuIcK bRoWn FoX',
    'Ünïcödé ünicode UNICODE',
    'e-mail, E-Mail, eMail, EMAIL',
    'COVID-19, SARS-CoV-2, H1N1, mRNA-1273',
    'iPhone 15 Pro Max, iOS 17.2.1, macOS Sonoma',
    'Java\'s String.valueOf(42) returns "42"; Python\'s str(42) too.',
    'rock\'n\'roll y\'all ma\'am o\'clock',
    'AT&T, P&G, Q&A, R&D, B2B, 24/7, 9-to-5',
    'naïveté, über-cool, façade-like, coördinate',
  ],
};

/** The hand-written cases as {id, source, text}. */
function handcrafted() {
  const out = [];
  for (const [group, texts] of Object.entries(HANDCRAFTED)) {
    texts.forEach((text, i) => out.push({ id: `hand-${group}-${String(i).padStart(3, '0')}`, source: 'handcrafted', text }));
  }
  return out;
}

/** A small deterministic PRNG (mulberry32) so regenerating gives the same fixture. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = (rnd, xs) => xs[Math.floor(rnd() * xs.length)];

// Templated sentences: many combinations of the categories above in realistic frames.
function templated(count, seed) {
  const rnd = prng(seed);
  const subjects = ['The company', 'Café Müller', 'Dr. Ng', 'ACME Corp.', 'The U.S. Treasury', 'Zoë', 'Bjørn', 'The ministry', 'İlker', 'Σωκράτης', 'Ольга', '李明', 'José María', 'François'];
  const verbs = ['said', 'reported', 'tweeted', 'announced', 'denied', 'confirmed', 'e-mailed', 'posted'];
  const objects = ['$3.5bn in revenue', '12,000 new jobs', 'a 2.5% rise', 'profits of €1.2m', 'a loss of ¥980,000', 'the deal (finally)', '"no comment"', 'a 50/50 split', '4.75% rates', '½ of the shares'];
  const tails = ['.', '!', '?', '...', ' 😀', ' 👍🏽', ' — see https://ex.com/a?b=c.', ' (source: info@news.example).', '\ton Monday.', '\nMore later.', ' 🇫🇷🇩🇪!', ' 中国 ', ' #breaking', ' ;-)', '\u200b.', ' naïvely.'];
  const out = [];
  for (let i = 0; i < count; i++) {
    let s = `${pick(rnd, subjects)} ${pick(rnd, verbs)} ${pick(rnd, objects)}${pick(rnd, tails)}`;
    if (rnd() < 0.3) s = s.toUpperCase();
    if (rnd() < 0.2) s = `${pick(rnd, subjects)}: ${s}`;
    out.push({ id: `tmpl-${String(i).padStart(4, '0')}`, source: 'templated', text: s });
  }
  return out;
}

// Random code point soup from pools that stress normalization and pre-tokenization; checks that
// per-character behaviour composes (canonical reordering, removed characters inside words, etc.).
function fuzz(count, seed) {
  const rnd = prng(seed);
  const pools = [
    [0x20, 0x7e], [0x20, 0x7e], [0x20, 0x7e], [0x61, 0x7a], [0x61, 0x7a],
    [0x00, 0x1f], [0x7f, 0xa0], [0xa1, 0x24f], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x52f],
    [0x590, 0x6ff], [0x900, 0x97f], [0xe00, 0xe7f], [0x1100, 0x11ff], [0x1ab0, 0x1aff], [0x1dc0, 0x1dff],
    [0x1e00, 0x1fff], [0x2000, 0x206f], [0x2070, 0x218f], [0x2e00, 0x2e7f], [0x3000, 0x30ff], [0x3400, 0x3410],
    [0x4e00, 0x4e40], [0xac00, 0xac40], [0xf900, 0xf920], [0xfe00, 0xfe6f], [0xff00, 0xffef], [0xfff0, 0xffff],
    [0x1d15e, 0x1d1c0], [0x1d400, 0x1d4ff], [0x1f300, 0x1faff], [0x1f1e6, 0x1f1ff], [0x20000, 0x20010],
    [0x2b81f, 0x2b930], [0xe0000, 0xe007f], [0xf0000, 0xf0010],
    [0x8d0, 0x8ff], [0x610, 0x65f], [0x1b00, 0x1b7f], [0xa980, 0xa9df], [0x302a, 0x302f], [0x1e000, 0x1e02a], [0x1e900, 0x1e95f],
  ];
  const out = [];
  for (let i = 0; i < count; i++) {
    const n = 1 + Math.floor(rnd() * 40);
    let s = '';
    for (let j = 0; j < n; j++) {
      const p = pick(rnd, pools);
      let c = p[0] + Math.floor(rnd() * (p[1] - p[0] + 1));
      if (c >= 0xd800 && c <= 0xdfff) c = 0x20; // lone surrogates cannot go through JSON fixtures intact
      s += String.fromCodePoint(c);
    }
    out.push({ id: `fuzz-${String(i).padStart(4, '0')}`, source: 'fuzz', text: s });
  }
  return out;
}

module.exports = { handcrafted, templated, fuzz, prng };
