using System.Text;
using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Engine.Text;
using StreamBert.Training.Data;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// Article inputs for the articles tests: the ClaimBuster debates rebuilt as documents, hand-written articles
/// that stress offsets and windows (accents, emoji, CJK, quotes, abbreviations, very long sentences), randomly
/// generated bodies, and twenty kinds of malformed input.
/// </summary>
public static class ArticleCorpus
{
    /// <summary>
    /// The debates of <c>claimbuster_crowdsourced.csv</c> as articles: rows grouped by <c>File_id</c>, ordered by
    /// <c>Line_number</c>, cut into passages of 5–15 sentences (sizes from a seeded generator); some passages break
    /// into paragraphs. Debates are interleaved so that the first <paramref name="count"/> span all of them.
    /// </summary>
    public static List<ArticleInput> Debates(int count, string prefix, int seed = 7)
    {
        var random = new Random(seed);
        var perDebate = new List<Queue<ArticleInput>>();
        foreach (var debate in ClaimDataReader.Read(ArticlesData.ClaimBusterCrowdsourced).Where(r => r.FileId is not null).GroupBy(r => r.FileId!).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var rows = debate.OrderBy(r => r.LineNumber ?? 0).ToList();
            var date = Path.GetFileNameWithoutExtension(debate.Key);
            var queue = new Queue<ArticleInput>();
            for (var i = 0; i < rows.Count;)
            {
                var size = random.Next(5, 16);
                var body = new StringBuilder();
                foreach (var row in rows.Skip(i).Take(size))
                {
                    if (body.Length > 0)
                    {
                        body.Append(random.Next(8) == 0 ? "\n\n" : " ");
                    }

                    body.Append(row.Text.Trim());
                }

                queue.Enqueue(new ArticleInput($"{prefix}-debate-{date}-{i}", body.ToString(), $"Presidential debate {date}", PublishedAt: date));
                i += size;
            }

            perDebate.Add(queue);
        }

        var result = new List<ArticleInput>(count);
        while (result.Count < count && perDebate.Any(q => q.Count > 0))
        {
            foreach (var queue in perDebate)
            {
                if (result.Count < count && queue.TryDequeue(out var article))
                {
                    result.Add(article);
                }
            }
        }

        return result;
    }

    /// <summary>All ClaimBuster crowdsourced sentences, in file order.</summary>
    public static List<string> ClaimSentences() =>
        ClaimDataReader.Read(ArticlesData.ClaimBusterCrowdsourced).Select(r => r.Text).ToList();

    /// <summary>Hand-written bodies that stress offsets, the splitter and windowing; cycled with a numbered tail.</summary>
    public static readonly IReadOnlyList<string> Stress =
    [
        "José Álvarez met Zoë Saldaña in Málaga on Tuesday. The café's crème brûlée cost €4.50, said Ångström of Øresund Bank. Reykjavík and São Paulo signed the deal.",
        "Fans cheered 🎉🎉 as Lionel Messi scored for Inter Miami 👨‍👩‍👧‍👦. The flag 🇺🇸 waved over Washington! 👍🏽 Great game, said Coach Gerardo Martino 🧑🏿‍🚀.",
        "東京 is the capital of Japan. 習近平 met Joe Biden in San Francisco。北京では雨が降った。Samsung announced record profits in 서울 on Monday.",
        "\"We will win,\" said Mr. Smith. 'Really?' asked Dr. Jones (of Harvard University). He said \"no.\" Then he left for London.",
        "The U.S. Senate met on Jan. 5 at 10 a.m. with Sen. Elizabeth Warren and Gov. Gavin Newsom. Apple Inc. rose 3.5% to $182.50. He lives in the U.S. The vote failed.",
        "BREAKING NEWS\nWASHINGTON (Reuters) - President Joe Biden said on Friday that NATO would stand with Ukraine.\n\n1. Germany pledged more tanks.\n2. France sent Emmanuel Macron to Kyiv.",
        "Cafe\u0301 owner Ame\u0301lie Poulain opened a shop in Montre\u0301al. Nai\u0308ve investors from Zu\u0308rich lost money... Or did they?",
        "Micro\u200Bsoft and Goo\u200Dgle met in Brus\u00ADsels with the European Commission. \uFEFFThe BOM\u2060 should not matter. Satya Nadella spoke first.",
        "Visit https://www.example.com/news/2023/10/story.html?id=1.5&x=2 for details. GDP grew 2.3% in Q3 2023 vs. 1.9% a year earlier, the IMF said. Contact press@un.org today.",
        "Angela Merkel, Olaf Scholz and Ursula von der Leyen met in Berlin… They discussed the euro. Was it enough?! Nobody in Brussels knew.",
        // One sentence far longer than 128 word pieces: the encoder sees it in overlapping windows.
        LongSentence(230),
        // A long sentence of emoji, CJK and accented words: many pieces per character.
        string.Join(" ", Enumerable.Range(0, 60).Select(i => (i % 4) switch { 0 => "Ünïcödé", 1 => "日本語テキスト", 2 => "🙂👩‍💻", _ => "München" })) + ". Then Paris.",
        "The meeting in Geneva ended.\r\nThe delegates from Kenya, Peru and Vietnam flew home.\r\nThe United Nations published a statement.",
        "Prices rose by 1,234.56 dollars (about 4.5 %) in No. 10 Downing Street, said Boris Johnson. Rishi Sunak (Chancellor) disagreed!",
    ];

    public static List<ArticleInput> Synthetic(int count, string prefix)
    {
        var result = new List<ArticleInput>(count);
        for (var i = 0; i < count; i++)
        {
            var body = Stress[i % Stress.Count] + (i < Stress.Count ? "" : $" Report {i} ended in Madrid.");
            result.Add(new ArticleInput($"{prefix}-synthetic-{i}", body, Title: i % 2 == 0 ? "Stress " + i : null, Url: i % 3 == 0 ? $"https://example.org/{i}" : null));
        }

        return result;
    }

    /// <summary>One sentence of about <paramref name="words"/> words with many names in it and no sentence end before the last word.</summary>
    public static string LongSentence(int words)
    {
        string[] clauses =
        [
            "officials from the United Nations in New York", "delegates of the European Union led by Ursula von der Leyen",
            "ministers from Germany, France and Italy", "bankers at Goldman Sachs and JPMorgan Chase",
            "Barack Obama and Hillary Clinton", "researchers at the University of Oxford", "traders in Tokyo and Hong Kong",
        ];
        var sentence = new StringBuilder("According to several reports");
        var count = 3;
        for (var i = 0; count < words; i++)
        {
            var clause = clauses[i % clauses.Length];
            sentence.Append(", ").Append(clause);
            count += clause.Count(c => c == ' ') + 1;
        }

        return sentence.Append(" agreed on a plan.").ToString();
    }

    public static byte[] Json(ArticleInput article) => JsonSerializer.SerializeToUtf8Bytes(article);

    public const int MalformedKinds = 20;

    /// <summary>Twenty different kinds of input the processor must dead-letter.</summary>
    public static byte[] Malformed(int kind, string id) => (kind % MalformedKinds) switch
    {
        0 => Encoding.UTF8.GetBytes($"{{\"id\": \"{id}\", \"body\": \"truncated"),
        1 => [.. Encoding.UTF8.GetBytes($"{{\"id\":\"{id}\",\"body\":\"bad "), 0xC3, 0x28, 0xFF, .. "\"}"u8.ToArray()],
        2 => JsonSerializer.SerializeToUtf8Bytes(new { body = "An article with no id. It mentions Paris." }),
        3 => JsonSerializer.SerializeToUtf8Bytes(new { id, body = "" }),
        4 => JsonSerializer.SerializeToUtf8Bytes(new { id, body = "  \n\t \r\n " }),
        5 => JsonSerializer.SerializeToUtf8Bytes(new { id, body = string.Concat(Enumerable.Repeat("The Senate met in Washington. ", 9000)) }),
        6 => Encoding.UTF8.GetBytes("{\"id\": 42, \"body\": [1, 2, 3]}"),
        7 => Encoding.UTF8.GetBytes($"{{\"id\": \"{id}\", \"body\": 17}}"),
        8 => "null"u8.ToArray(),
        9 => JsonSerializer.SerializeToUtf8Bytes(new[] { new { id, body = "An array is not an article." } }),
        10 => "Just some words about Berlin, not JSON at all."u8.ToArray(),
        11 => [],
        12 => [.. Encoding.UTF8.GetBytes($"{{\"id\":\"{id}\",\"body\":\"nul "), 0x00, .. " inside.\"}"u8.ToArray()],
        13 => JsonSerializer.SerializeToUtf8Bytes(new { id = "", body = "The id is empty." }),
        14 => JsonSerializer.SerializeToUtf8Bytes(new { id = "   ", body = "The id is blank." }),
        15 => "\"a JSON string, not an object\""u8.ToArray(),
        16 => Encoding.UTF8.GetBytes($"{{\"id\": \"{id}\", \"body\": {{\"text\": \"nested\"}}}}"),
        17 => Encoding.UTF8.GetBytes($"{{\"id\": \"{id}\", \"body\": \"Deep.\", \"extra\": {new string('[', 40)}{new string(']', 40)}}}"),
        18 => JsonSerializer.SerializeToUtf8Bytes(new { id, body = "\u200B\u2060\uFEFF\u200B" }),
        _ => Encoding.UTF8.GetBytes($"{{\"id\": \"{id}\", \"body\": \"Trailing garbage.\"}} and more"),
    };

    /// <summary>
    /// Random bodies that mix words with accents, emoji (ZWJ sequences, skin tones, flags), CJK, combining marks,
    /// zero-width characters, URLs, numbers, abbreviations, quotes and line breaks; names give the NER head
    /// something to tag. About one sentence in forty is longer than the encoder's window.
    /// </summary>
    public static string RandomBody(Random random)
    {
        var body = new StringBuilder();
        var sentences = random.Next(1, 7);
        for (var s = 0; s < sentences; s++)
        {
            var words = random.Next(40) == 0 ? random.Next(130, 200) : random.Next(1, 30);
            for (var w = 0; w < words; w++)
            {
                if (w > 0)
                {
                    body.Append(random.Next(40) switch { 0 => "  ", 1 => "\t", 2 => "\u00A0", 3 => ", ", 4 => " \u200B", _ => " " });
                }

                var word = RandomWord(random);
                body.Append(w == 0 && char.IsLower(word[0]) ? char.ToUpperInvariant(word[0]) + word[1..] : word);
            }

            body.Append(random.Next(14) switch { 0 => "?", 1 => "!", 2 => "...", 3 => "…", 4 => ".\"", 5 => ".)", 6 => "。", 7 => "", _ => "." });
            body.Append(random.Next(10) switch { 0 => "\n", 1 => "\n\n", 2 => "\r\n", 3 => " \u200B ", _ => " " });
        }

        return body.ToString();
    }

    private static readonly string[] Names =
    [
        "Barack Obama", "Angela Merkel", "New York", "Microsoft", "Paris", "United Nations", "José Álvarez", "São Paulo",
        "Zürich", "Toyota", "Kyiv", "Emmanuel Macron", "the European Union", "Real Madrid", "Reuters", "Nguyễn Văn An",
        "北京", "東京", "Samsung", "Mr. Smith", "Dr. Jones", "the U.S.", "Jan. 5",
    ];

    private static readonly string[] Plain =
    [
        "the", "president", "said", "that", "economy", "grew", "in", "last", "year", "war", "taxes", "we", "will",
        "million", "jobs", "people", "because", "not", "a", "and", "of", "crème", "naïve", "façade", "résumé", "smörgåsbord",
    ];

    private static readonly string[] Emoji =
    [
        "🙂", "🎉", "👍🏽", "👨‍👩‍👧‍👦", "🧑🏿‍🚀", "🏳️‍🌈", "🇺🇸", "🇯🇵", "❤️", "👩‍💻", "🤷‍♀️", "1️⃣", "©", "™", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𠜎𠜱",
    ];

    private static readonly string[] Cjk = ["日本語", "中华人民共和国", "한국어", "テキスト", "北京市", "漢字かな交じり文", "서울특별시"];

    private static readonly string[] Marked =
    [
        "Cafe\u0301", "Ame\u0301lie", "n\u0303", "Zu\u0308rich", "a\u0300\u0301\u0302\u0303", "e\u0301\u0301\u0301", "\u0915\u094D\u0937", "Z\u0351\u0352\u0353a\u0354lgo",
    ];

    private static readonly string[] Zero =
    [
        "Micro\u200Bsoft", "Goo\u200Dgle", "soft\u00ADware", "\uFEFFword", "zero\u2060width", "\u200C\u200D", "a\u200Bb\u200Bc",
    ];

    private static readonly string[] Mixed =
    [
        "https://example.com/a.b?c=1.5&d=2", "www.example.org/path", "press@un.org", "3.14", "1,234,567", "$4.5bn", "45%", "2023-10-05",
        "10:30", "U.S.", "e.g.", "No. 7", "(AP)", "\"quoted\"", "'single'", "«guillemets»", "—", "--", "…", "x²", "½", "℃", "Ⅻ",
        "ﬁnance", "İstanbul", "ß", "ǅemal", "Ǆ", "ΑΘΗΝΑ", "Москва", "القاهرة", "ירושלים", "ก่อน", new string('w', 120), "A.B.C.", "O'Neill",
    ];

    private static string RandomWord(Random random) => random.Next(20) switch
    {
        0 or 1 or 2 => Names[random.Next(Names.Length)],
        3 => Emoji[random.Next(Emoji.Length)],
        4 => Cjk[random.Next(Cjk.Length)],
        5 => Marked[random.Next(Marked.Length)],
        6 => Zero[random.Next(Zero.Length)],
        7 or 8 => Mixed[random.Next(Mixed.Length)],
        _ => Plain[random.Next(Plain.Length)],
    };
}

/// <summary>The output contract checks shared by the end-to-end and the in-process tests.</summary>
public static class ArticleChecks
{
    public static readonly IReadOnlySet<string> EntityTypes = LabelSets.EntityTypes.ToHashSet(StringComparer.Ordinal);

    /// <summary>Characters the splitter treats as whitespace (outside every sentence).</summary>
    public static bool IsSkippable(char c) => char.IsWhiteSpace(c) || c is '\u200B' or '\u2060' or '\uFEFF';

    /// <summary>Checks one article's two outputs against its body; returns the number of spans checked.</summary>
    public static int Verify(string id, string body, ClaimsOutput claims, EntitiesOutput entities)
    {
        var where = $"article {id}";
        Assert.Equal(id, claims.Id);
        Assert.Equal(id, entities.Id);
        Assert.NotEmpty(claims.Sentences);

        // Sentences: in order, non-overlapping, exact text, and together covering every visible character.
        var expected = new List<Range>();
        SentenceSplitter.Split(body, expected);
        Assert.True(expected.Count == claims.Sentences.Count, $"{where}: {claims.Sentences.Count} sentences, the splitter finds {expected.Count}");
        var covered = new bool[body.Length];
        var previousEnd = 0;
        foreach (var sentence in claims.Sentences)
        {
            CheckSpan(body, sentence.Start, sentence.End, sentence.Text, where + " sentence");
            Assert.True(sentence.Start >= previousEnd, $"{where}: sentence [{sentence.Start},{sentence.End}) starts before the previous one ends ({previousEnd})");
            Assert.True(sentence.Label is LabelSets.Claim or LabelSets.NoClaim, $"{where}: label {sentence.Label}");
            Assert.InRange(sentence.Score, 0f, 1f);
            previousEnd = sentence.End;
            Array.Fill(covered, true, sentence.Start, sentence.End - sentence.Start);
        }

        for (var i = 0; i < body.Length; i++)
        {
            Assert.True(covered[i] || IsSkippable(body[i]), $"{where}: character {i} (U+{(int)body[i]:X4}) is in no sentence");
        }

        // Entities: exact text, known type, a probability, in order, each inside exactly one sentence.
        var previousEntityEnd = 0;
        foreach (var entity in entities.Entities)
        {
            CheckSpan(body, entity.Start, entity.End, entity.Text, where + " entity");
            Assert.True(EntityTypes.Contains(entity.Type), $"{where}: entity type {entity.Type}");
            Assert.True(entity.Score > 0f && entity.Score <= 1f, $"{where}: entity score {entity.Score}");
            Assert.True(entity.Start >= previousEntityEnd, $"{where}: entity [{entity.Start},{entity.End}) overlaps the previous one");
            previousEntityEnd = entity.End;
            var containing = claims.Sentences.Count(s => s.Start <= entity.Start && entity.End <= s.End);
            Assert.True(containing == 1, $"{where}: entity «{entity.Text}» [{entity.Start},{entity.End}) lies in {containing} sentences");
        }

        return claims.Sentences.Count + entities.Entities.Count;
    }

    private static void CheckSpan(string body, int start, int end, string text, string what)
    {
        Assert.True(0 <= start && start < end && end <= body.Length, $"{what} [{start},{end}) outside a body of {body.Length}");
        Assert.True(body[start..end] == text, $"{what} [{start},{end}): body has «{body[start..end]}», output says «{text}»");
        Assert.False(char.IsLowSurrogate(body[start]), $"{what} [{start},{end}) starts inside a surrogate pair");
        Assert.False(end < body.Length && char.IsLowSurrogate(body[end]), $"{what} [{start},{end}) ends inside a surrogate pair");
        Assert.False(IsSkippable(text[0]) || IsSkippable(text[^1]), $"{what} «{text}» starts or ends with whitespace");
    }
}
