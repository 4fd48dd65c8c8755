using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using StreamBert.Engine.Tokenization;
using Xunit.Abstractions;

namespace StreamBert.Engine.Tests.Tokenization;

/// <summary>
/// Compares the tokenizer with Hugging Face <c>tokenizers</c> on the committed golden fixture
/// (regenerate with tools/tokenizer-golden; CI reads only the fixture).
/// </summary>
public sealed class WordPieceTokenizerGoldenTests(ITestOutputHelper log)
{
    private static WordPieceTokenizer Tokenizer => TokenizerTestData.Tokenizer;

    [Fact]
    public void Fixture_Header_MatchesVocabularyAndCharTable()
    {
        var header = TokenizerTestData.Fixture.Header;
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(TokenizerTestData.Vocab)), header.VocabSha256);
        Assert.Equal(BertCharTable.ReferenceDigest, header.CharTableDigest);
        Assert.StartsWith("UTF-16", header.Offsets, StringComparison.Ordinal);
        Assert.True(TokenizerTestData.Fixture.Cases.Count(c => c.Text is not null) >= 1000);
    }

    [Fact]
    public void Tokenize_GoldenTexts_IdsMatchReference() =>
        AssertAllMatch(Texts(TokenizerTestData.Fixture), "ids", (expected, actual) => expected.Ids.SequenceEqual(actual.Ids));

    [Fact]
    public void Tokenize_GoldenTexts_OffsetsMatchReference() =>
        AssertAllMatch(Texts(TokenizerTestData.Fixture), "offsets", (expected, actual) => expected.Offsets.SequenceEqual(actual.Offsets));

    [Fact]
    public void Tokenize_GoldenTexts_WordIndicesMatchReference() =>
        AssertAllMatch(Texts(TokenizerTestData.Fixture), "word indices", (expected, actual) => expected.WordIds.SequenceEqual(actual.WordIds));

    [Fact]
    public void TokenizeWords_GoldenWordLists_MatchReference() =>
        AssertAllMatch(WordLists(TokenizerTestData.Fixture), "ids, offsets and word indices", FullyEqual);

    [Fact]
    public void Tokenize_ExtraGoldenFromEnvironment_MatchesReference()
    {
        // CoNLL-2003 text may not be committed, so its reference is generated locally on demand.
        var path = Environment.GetEnvironmentVariable(TokenizerTestData.ExtraGoldenVariable);
        if (string.IsNullOrEmpty(path))
        {
            log.WriteLine($"{TokenizerTestData.ExtraGoldenVariable} not set: nothing extra to check.");
            return;
        }

        var extra = TokenizerTestData.Load(path);
        AssertAllMatch(extra.Cases, "ids, offsets and word indices", FullyEqual);
    }

    [Fact]
    public void CharTable_EveryCodePoint_MatchesReferenceDigest()
    {
        // The fixture sentences check the table through the tokenizer; this checks the lookup of every code point
        // against the digest the generator computed from the raw reference probe (same line format as its digestLine).
        var text = new StringBuilder(8 << 20);
        var described = 0;
        for (var cp = 0; cp <= 0x10FFFF; cp++)
        {
            if (cp is < 0xD800 or > 0xDFFF && Describe(cp, text))
            {
                described++;
            }
        }

        Assert.True(BertCharTable.RunsAreWellFormed());
        Assert.Equal(BertCharTable.ReferenceDescribedCount, described);
        Assert.Equal(BertCharTable.ReferenceDigest, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()))));
    }

    private static bool Describe(int cp, StringBuilder text)
    {
        var entry = BertCharTable.Lookup(cp);
        var kind = BertCharTable.KindOf(entry);
        var value = BertCharTable.ValueOf(entry);
        var ranks = BertCharTable.NfdRanks(cp);
        if (kind == BertCharKind.Word && value == 0 && ranks == 0)
        {
            return false;
        }

        var outputs = new List<string>();
        char letter;
        switch (kind)
        {
            case BertCharKind.Word or BertCharKind.Isolated:
                letter = kind == BertCharKind.Word ? 'W' : 'I';
                outputs.Add(Hex(cp + value));
                break;
            case BertCharKind.Space or BertCharKind.Removed or BertCharKind.Dropped:
                letter = kind == BertCharKind.Space ? 'S' : kind == BertCharKind.Removed ? 'R' : 'D';
                break;
            case BertCharKind.Reorder:
                letter = 'X';
                var elements = BertCharTable.ReorderElements(entry);
                for (var k = 0; k < elements.Length; k += 2)
                {
                    outputs.Add($"{elements[k]}/{(elements[k + 1] < 0 ? "-" : Hex(elements[k + 1]))}");
                }

                break;
            default:
                letter = 'M';
                Span<int> expanded = stackalloc int[BertCharTable.MaxExpansion];
                var n = BertCharTable.Expand(cp, entry, expanded);
                for (var k = 0; k < n; k++)
                {
                    outputs.Add(Hex(expanded[k]));
                }

                break;
        }

        var rankList = new List<int>();
        for (var k = 0; k < BertCharTable.NfdCount(ranks); k++)
        {
            rankList.Add(BertCharTable.NfdRank(ranks, k));
        }

        text.Append(Hex(cp)).Append(':').Append(letter).Append(':').AppendJoin(',', outputs).Append(':').AppendJoin('.', rankList).Append('\n');
        return true;
    }

    private static string Hex(int value) => value.ToString("x", CultureInfo.InvariantCulture);

    private static IEnumerable<GoldenCase> Texts(GoldenFixture fixture) => fixture.Cases.Where(c => c.Text is not null);

    private static IEnumerable<GoldenCase> WordLists(GoldenFixture fixture) => fixture.Cases.Where(c => c.Words is not null);

    private static bool FullyEqual(GoldenCase expected, GoldenCase actual) =>
        expected.Ids.SequenceEqual(actual.Ids) && expected.Offsets.SequenceEqual(actual.Offsets) && expected.WordIds.SequenceEqual(actual.WordIds);

    private static GoldenCase Encode(GoldenCase input)
    {
        var tokens = new List<Token>();
        if (input.Words is { } words)
        {
            Tokenizer.TokenizeWords(words, tokens);
        }
        else
        {
            Tokenizer.Tokenize(input.Text, tokens);
        }

        return input with
        {
            Ids = [.. tokens.Select(t => t.Id)],
            Offsets = [.. tokens.SelectMany(t => new[] { t.Start, t.End })],
            WordIds = [.. tokens.Select(t => t.Word)],
        };
    }

    private void AssertAllMatch(IEnumerable<GoldenCase> cases, string what, Func<GoldenCase, GoldenCase, bool> equal)
    {
        var total = 0;
        var failures = new List<string>();
        foreach (var expected in cases)
        {
            total++;
            var actual = Encode(expected);
            if (!equal(expected, actual))
            {
                failures.Add(Describe(expected, actual));
            }
        }

        log.WriteLine($"{what}: {total - failures.Count}/{total} identical to the reference");
        Assert.True(total > 0, "no cases");
        Assert.True(failures.Count == 0, $"{failures.Count}/{total} differ in {what}:\n{string.Join("\n", failures.Take(5))}");
    }

    private static string Describe(GoldenCase expected, GoldenCase actual)
    {
        static string Pieces(GoldenCase c) => string.Join(" ", c.Ids.Select((id, i) =>
            $"{Tokenizer.IdToToken(id)}[{c.Offsets[2 * i]},{c.Offsets[(2 * i) + 1]})w{c.WordIds[i]}"));
        var input = expected.Text ?? string.Join(' ', expected.Words ?? []);
        return $"{expected.Id} {JsonSerializer.Serialize(input)}\n  expected: {Pieces(expected)}\n  actual:   {Pieces(actual)}";
    }
}
