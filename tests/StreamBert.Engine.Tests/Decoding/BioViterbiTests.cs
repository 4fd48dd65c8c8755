using StreamBert.Contracts;
using StreamBert.Engine.Decoding;

namespace StreamBert.Engine.Tests.Decoding;

public sealed class BioViterbiTests
{
    private static readonly IReadOnlyList<string> Tags = LabelSets.NerTags;

    /// <summary>One probability row per word: the named tags get the given mass, the rest share what is left.</summary>
    private static float[] Rows(params (string Tag, float P)[][] words)
    {
        var rows = new float[words.Length * Tags.Count];
        for (var w = 0; w < words.Length; w++)
        {
            var rest = (1f - words[w].Sum(x => x.P)) / (Tags.Count - words[w].Length);
            for (var t = 0; t < Tags.Count; t++)
            {
                rows[(w * Tags.Count) + t] = rest;
            }

            foreach (var (tag, p) in words[w])
            {
                rows[(w * Tags.Count) + IndexOf(tag)] = p;
            }
        }

        return rows;
    }

    private static int IndexOf(string tag) => Tags.ToList().IndexOf(tag);

    private static string[] Decode(float[] rows)
    {
        var best = new int[rows.Length / Tags.Count];
        new BioViterbi(Tags).Decode(rows, best);
        return best.Select(i => Tags[i]).ToArray();
    }

    [Fact]
    public void ValidArgmaxSequence_IsReturnedUnchanged()
    {
        var rows = Rows(
            [("B-PER", 0.9f)],
            [("I-PER", 0.8f)],
            [("O", 0.95f)],
            [("B-LOC", 0.7f)]);

        Assert.Equal(["B-PER", "I-PER", "O", "B-LOC"], Decode(rows));
    }

    [Fact]
    public void InsideAfterOutside_TakesTheBestValidReading()
    {
        // Argmax alone reads "O I-ORG I-ORG"; the second word's B-ORG is nearly as likely and makes it valid.
        var rows = Rows(
            [("O", 0.9f)],
            [("I-ORG", 0.5f), ("B-ORG", 0.45f)],
            [("I-ORG", 0.9f)]);

        Assert.Equal(["O", "B-ORG", "I-ORG"], Decode(rows));
    }

    [Fact]
    public void InsideOfAnotherType_IsNeverProduced()
    {
        var rows = Rows(
            [("B-PER", 0.9f)],
            [("I-LOC", 0.6f), ("I-PER", 0.3f)]);

        var tags = Decode(rows);

        Assert.Equal("B-PER", tags[0]);
        Assert.NotEqual("I-LOC", tags[1]);
        Assert.Equal("I-PER", tags[1]); // 0.3 beats O and every B- tag, which share what is left
    }

    [Fact]
    public void InsideAtTheStart_IsNotAllowed()
    {
        var rows = Rows([("I-MISC", 0.7f), ("B-MISC", 0.2f)]);

        Assert.Equal(["B-MISC"], Decode(rows));
    }

    [Fact]
    public void EverySequenceFromRandomRows_IsValidBio()
    {
        var random = new Random(7);
        for (var trial = 0; trial < 200; trial++)
        {
            var words = random.Next(1, 30);
            var rows = new float[words * Tags.Count];
            for (var i = 0; i < rows.Length; i++)
            {
                rows[i] = (float)random.NextDouble();
            }

            var tags = Decode(rows);
            for (var w = 0; w < tags.Length; w++)
            {
                if (tags[w].StartsWith("I-", StringComparison.Ordinal))
                {
                    Assert.True(w > 0 && tags[w - 1][2..] == tags[w][2..] && tags[w - 1] != "O", $"{string.Join(' ', tags)} at {w}");
                }
            }
        }
    }

    [Fact]
    public void NoWords_NothingToDo_AndWrongShapeIsRejected()
    {
        new BioViterbi(Tags).Decode([], []);
        Assert.Throws<ArgumentException>(() => new BioViterbi(Tags).Decode(new float[Tags.Count + 1], new int[1]));
    }
}
