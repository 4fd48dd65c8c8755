using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;

namespace StreamBert.Engine.Tests.Inference;

/// <summary>
/// Several sequences in one encoder row (block-diagonal attention, positions restarting per sequence) must give each
/// sequence exactly the hidden states of a row of its own: the packing rewrite changes cost, never results.
/// </summary>
public sealed class PackingTests
{
    private static readonly string[] Texts =
    [
        "Free entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005.",
        "Ok lar... Joking wif u oni...",
        "Hi",
        "WINNER!! As a valued network customer you have been selected to receivea £900 prize reward! To claim call 09061701461. Claim code KL341. Valid 12 hours only.",
        "I'm gonna be home soon and i don't want to talk about this stuff anymore tonight, k? I've cried enough today.",
        "U dun say so early hor... U c already then say...",
        "Nah I don't think he goes to usf, he lives around here though",
        "Angela Merkel met Emmanuel Macron in Paris on Monday to discuss the budget of the European Union.",
        "SIX chances to win CASH! From 100 to 20,000 pounds txt> CSH11 and send to 87575.",
        "Yes.",
    ];

    [Fact]
    public void Pack_EverySequencePlacedOnceWithoutOverlapWithinTheRow()
    {
        int[] lengths = [3, 120, 40, 40, 7, 90, 128, 1, 64, 64, 30];
        var (rows, length, places) = ModelSet.Pack(lengths, packing: true);

        Assert.True(length >= lengths.Max());
        Assert.True(rows < lengths.Length, $"{rows} rows for {lengths.Length} sequences: nothing was packed");
        for (var row = 0; row < rows; row++)
        {
            var spans = Enumerable.Range(0, lengths.Length).Where(i => places[i].Row == row).Select(i => (Start: places[i].Offset, End: places[i].Offset + lengths[i])).OrderBy(s => s.Start).ToList();
            Assert.NotEmpty(spans);
            Assert.All(spans, s => Assert.InRange(s.End, 1, length));
            Assert.All(spans.Zip(spans.Skip(1)), pair => Assert.True(pair.First.End <= pair.Second.Start, $"row {row}: {pair.First} overlaps {pair.Second}"));
        }

        var unpacked = ModelSet.Pack(lengths, packing: false);
        Assert.Equal(lengths.Length, unpacked.Rows);
        Assert.Equal(lengths.Max(), unpacked.Length);
        Assert.All(Enumerable.Range(0, lengths.Length), i => Assert.Equal((i, 0), unpacked.Places[i]));
    }

    [Fact]
    public void Pack_CostlierAttention_NeverChoosesLongerRowsAndHereChoosesShorterOnes()
    {
        // 40 SMS-sized sequences: rows of 256 fill best, so the FLOP-counted constant (6·d = 2,304) picks them; at the
        // measured int8 constant attention over a long row costs more than the leftovers of shorter rows save.
        int[] lengths = [.. Enumerable.Range(0, 40).Select(i => 17 + ((i * 7) % 23))];
        var flops = ModelSet.Pack(lengths, packing: true, attentionCostLength: 2304);
        var fp32 = ModelSet.Pack(lengths, packing: true, attentionCostLength: EncoderSession.Fp32AttentionCostLength);
        var int8 = ModelSet.Pack(lengths, packing: true, attentionCostLength: EncoderSession.Int8AttentionCostLength);
        var attentionOnly = ModelSet.Pack(lengths, packing: true, attentionCostLength: 1);

        Assert.True(flops.Length >= fp32.Length && fp32.Length >= int8.Length && int8.Length >= attentionOnly.Length, $"row lengths {flops.Length}, {fp32.Length}, {int8.Length}, {attentionOnly.Length}");
        Assert.True(attentionOnly.Length < flops.Length, $"row length {attentionOnly.Length} vs {flops.Length}");
        Assert.All(new[] { flops, fp32, int8, attentionOnly }, p => Assert.True(p.Rows * p.Length >= lengths.Sum()));
        Assert.Throws<ArgumentOutOfRangeException>(() => ModelSet.Pack(lengths, packing: true, attentionCostLength: 0));
    }

    [Fact]
    public void Session_Int8Graph_IsQuantizedAndPacksWithTheInt8AttentionCost()
    {
        var pretrained = MiniLmResources.Ensure();
        var fp32 = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(pretrained.ModelPath));
        var (int8, _) = Int8Quantizer.Quantize(fp32);
        using var fp32Session = new EncoderSession(EncoderGraph.ToBytes(fp32), [6]);
        using var int8Session = new EncoderSession(EncoderGraph.ToBytes(int8), [6]);

        Assert.False(fp32Session.IsQuantized);
        Assert.Equal(EncoderSession.Fp32AttentionCostLength, fp32Session.AttentionCostLength);
        Assert.True(int8Session.IsQuantized);
        Assert.Equal(EncoderSession.Int8AttentionCostLength, int8Session.AttentionCostLength);
        Assert.True(EncoderSession.Int8AttentionCostLength < EncoderSession.Fp32AttentionCostLength);
        Assert.Null(int8Session.EndProfiling());
    }

    [Fact]
    public void Session_ProfilePrefix_WritesTheTraceUnderThatPrefix()
    {
        var folder = Directory.CreateTempSubdirectory("streambert-profile-test-");
        try
        {
            var prefix = Path.Combine(folder.FullName, "encoder");
            using var session = EncoderSession.FromFile(MiniLmResources.Ensure().ModelPath, [6], new SessionSettings { ProfilePrefix = prefix });
            using var batch = new EncoderBatch(1, 4);
            batch.SetRow(0, [101, 7592, 2088, 102]);
            session.Run(batch).Dispose();

            var trace = session.EndProfiling();

            Assert.NotNull(trace);
            Assert.StartsWith(prefix, Path.GetFullPath(trace), StringComparison.Ordinal);
            Assert.Contains("_kernel_time", File.ReadAllText(trace), StringComparison.Ordinal);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void PretrainedEncoder_PackedRows_SameHiddenStatesAsOneRowPerSequence()
    {
        var pretrained = MiniLmResources.Ensure();
        var tokenizer = WordPieceTokenizer.FromFile(pretrained.VocabPath);
        int[] layers = [3, 6];
        using var packedSession = EncoderSession.FromFile(pretrained.ModelPath, layers);
        using var plainSession = EncoderSession.FromFile(pretrained.ModelPath, layers, new SessionSettings { Packing = false });
        Assert.True(packedSession.SupportsPacking, "the pretrained graph was not rewritten for packing");
        Assert.False(plainSession.SupportsPacking);

        var sequences = Texts.Select(t => Ids(tokenizer, t)).ToList();
        var (rows, length, places) = ModelSet.Pack([.. sequences.Select(s => s.Length)], packing: true);
        Assert.True(rows < sequences.Count, "the texts should share rows");

        using var packedBatch = new EncoderBatch(rows, length);
        var segments = new int[rows];
        for (var i = 0; i < sequences.Count; i++)
        {
            packedBatch.SetSegment(places[i].Row, places[i].Offset, ++segments[places[i].Row], sequences[i]);
        }

        var longest = sequences.Max(s => s.Length);
        using var plainBatch = new EncoderBatch(sequences.Count, longest);
        for (var i = 0; i < sequences.Count; i++)
        {
            plainBatch.SetRow(i, sequences[i]);
        }

        using var packed = packedSession.Run(packedBatch);
        using var plain = plainSession.Run(plainBatch);
        var worst = 0f;
        foreach (var layer in layers)
        {
            for (var i = 0; i < sequences.Count; i++)
            {
                for (var position = 0; position < sequences[i].Length; position++)
                {
                    var a = packed.Token(layer, places[i].Row, places[i].Offset + position);
                    var b = plain.Token(layer, i, position);
                    for (var h = 0; h < a.Length; h++)
                    {
                        worst = Math.Max(worst, Math.Abs(a[h] - b[h]));
                    }
                }
            }
        }

        Assert.True(worst < 1e-4f, $"packed and unpacked hidden states differ by up to {worst:E2}");
        Assert.True(rows * length < sequences.Count * longest, $"packing used {rows}×{length} positions, one row each {sequences.Count}×{longest}");
    }

    private static int[] Ids(WordPieceTokenizer tokenizer, string text)
    {
        var tokens = new List<Token>();
        tokenizer.Tokenize(text, tokens);
        return [tokenizer.ClsId, .. tokens.Select(t => t.Id), tokenizer.SepId];
    }
}
