using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Engine.Heads;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;
using Xunit.Abstractions;

namespace StreamBert.Engine.Tests.Inference;

/// <summary>
/// Heads run inside the encoder's ONNX Runtime graph must serve what the C# heads (<see cref="DenseHead.Forward(ReadOnlySpan{float}, Span{float})"/>
/// on hidden states) served: the same margins, scores and tag probabilities, packed or not, fp32 or int8, in one call
/// per batch. The bundles are a spam bundle and an articles bundle (claims and NER) on the pretrained encoder, so the
/// one session of that encoder carries all three heads, as in serving.
/// </summary>
public sealed class HeadGraphTests(ITestOutputHelper output) : IDisposable
{
    private static readonly string[] Texts =
    [
        "WINNER!! As a valued network customer you have been selected to receivea £900 prize reward! To claim call 09061701461.",
        "Ok lar... Joking wif u oni...",
        "Angela Merkel met Emmanuel Macron in Paris on Monday to discuss the budget of the European Union.",
        "Hi",
        "The unemployment rate fell to 3.5 percent last year, the lowest in fifty years, said Senator Warren.",
        "I'm gonna be home soon and i don't want to talk about this stuff anymore tonight, k? I've cried enough today.",
        "Apple and Microsoft reported earnings in New York; IBM did not.",
        "Yes.",
        "We created 2 million jobs in Ohio and Michigan since 2017, according to the Department of Labor.",
    ];

    private readonly string _root = Path.Combine(Path.GetTempPath(), "streambert-headgraph-" + Guid.NewGuid().ToString("N"));
    private readonly WordPieceTokenizer _tokenizer = WordPieceTokenizer.FromFile(MiniLmResources.Ensure().VocabPath);

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Theory]
    [InlineData(EncoderPrecision.Fp32, true)]
    [InlineData(EncoderPrecision.Fp32, false)]
    [InlineData(EncoderPrecision.Int8, true)]
    [InlineData(EncoderPrecision.Int8, false)]
    public void Run_HeadsInGraph_SameOutputsAsTheCSharpHeadsInOneCallPerBatch(EncoderPrecision precision, bool packing)
    {
        string[] bundles = [WriteSpamBundle("spam", seed: 1), WriteArticlesBundle()];
        using var graph = ModelSet.Load(bundles, new SessionSettings { Precision = precision, Packing = packing, HeadsInGraph = true });
        using var csharp = ModelSet.Load(bundles, new SessionSettings { Precision = precision, Packing = packing, HeadsInGraph = false });
        var session = Assert.Single(graph.Encoders);
        Assert.Equal([TaskNames.Claims, TaskNames.Ner, TaskNames.Spam], session.Heads.Select(h => h.Task));
        Assert.Equal(precision == EncoderPrecision.Int8, session.IsQuantized);
        Assert.Equal(packing, session.SupportsPacking);
        Assert.Empty(csharp.Encoders[0].Heads);

        var mixed = Works();
        var (rows, _, places) = ModelSet.Pack([.. mixed.Select(w => w.Length)], session.SupportsPacking, session.AttentionCostLength);
        Assert.Equal(packing, rows < mixed.Count);
        // Packed, some row holds two sequences of one head (a second pooling slot) and some row sequences of different heads.
        var spamPerRow = mixed.Select((w, i) => (w, i)).Where(p => (p.w.Tasks & TaskSet.Spam) != 0).GroupBy(p => places[p.i].Row).Max(g => g.Count());
        Assert.Equal(packing, spamPerRow > 1);
        // The second batch names no article task: the claims and NER heads get empty inputs in that call.
        var spamOnly = Works().Where(w => w.Tasks == TaskSet.Spam).ToList();
        Assert.NotEmpty(spamOnly);

        var callsBefore = session.Calls;
        graph.Run(mixed);
        graph.Run(spamOnly);
        Assert.Equal(2, session.Calls - callsBefore);

        var expectedMixed = Works();
        var expectedSpam = Works().Where(w => w.Tasks == TaskSet.Spam).ToList();
        csharp.Run(expectedMixed);
        csharp.Run(expectedSpam);

        var worstMargin = 0f;
        var worstTag = 0f;
        foreach (var (actual, expected) in mixed.Zip(expectedMixed).Concat(spamOnly.Zip(expectedSpam)))
        {
            if ((expected.Tasks & TaskSet.Spam) != 0)
            {
                worstMargin = Math.Max(worstMargin, Math.Abs(actual.SpamMargin - expected.SpamMargin));
                Assert.Equal(expected.SpamScore, actual.SpamScore, 4);
                Assert.Equal(expected.SpamModel, actual.SpamModel);
            }

            if ((expected.Tasks & TaskSet.Claims) != 0)
            {
                worstMargin = Math.Max(worstMargin, Math.Abs(actual.ClaimMargin - expected.ClaimMargin));
                Assert.Equal(expected.ClaimScore, actual.ClaimScore, 4);
                Assert.Equal(expected.ClaimsModel, actual.ClaimsModel);
            }

            if ((expected.Tasks & TaskSet.Ner) != 0)
            {
                Assert.NotNull(actual.TagProbabilities);
                Assert.Equal(expected.TagProbabilities!.Length, actual.TagProbabilities.Length);
                for (var i = 0; i < actual.TagProbabilities.Length; i++)
                {
                    worstTag = Math.Max(worstTag, Math.Abs(actual.TagProbabilities[i] - expected.TagProbabilities[i]));
                }

                Assert.Equal(expected.EntitiesModel, actual.EntitiesModel);
            }
            else
            {
                Assert.Null(actual.TagProbabilities);
            }
        }

        output.WriteLine($"{precision}, packing {packing}: worst margin difference {worstMargin:E2}, worst tag probability difference {worstTag:E2}");
        Assert.True(worstMargin < 1e-4f, $"margins differ by up to {worstMargin:E2}");
        Assert.True(worstTag < 1e-5f, $"tag probabilities differ by up to {worstTag:E2}");
        // The heads are not constant, so agreeing means something.
        Assert.True(expectedMixed.Select(w => w.SpamMargin).Distinct().Count() > 3);
        Assert.Contains(expectedMixed, w => w.TagProbabilities is { } p && p.Any(v => v is > 0.05f and < 0.95f));
    }

    [Fact]
    public void Load_HotSwapOfAHead_NewSessionServesTheNewHeadAndTheSameHeadsShareTheSession()
    {
        var articles = WriteArticlesBundle();
        var v1 = WriteSpamBundle("spam-v1", seed: 1);
        var v2 = WriteSpamBundle("spam-v2", seed: 2);
        using var live = ModelSet.Load([v1, articles]);
        using var swapped = ModelSet.Load([v2, articles], reuse: live);
        using var reloaded = ModelSet.Load([v1, articles], reuse: live);

        // The heads are part of the graph: a new spam head needs a session of its own, unchanged heads share it.
        Assert.NotSame(live.Encoders[0], swapped.Encoders[0]);
        Assert.Same(live.Encoders[0], reloaded.Encoders[0]);
        Assert.Equal(live.EncoderSha256, swapped.EncoderSha256);

        var fromLive = Works();
        var fromSwapped = Works();
        var fromReloaded = Works();
        live.Run(fromLive);
        swapped.Run(fromSwapped);
        reloaded.Run(fromReloaded);
        var spam = fromLive.Select((w, i) => i).Where(i => (fromLive[i].Tasks & TaskSet.Spam) != 0).ToList();
        Assert.Contains(spam, i => Math.Abs(fromLive[i].SpamMargin - fromSwapped[i].SpamMargin) > 0.1f);
        Assert.All(spam, i => Assert.Equal(fromLive[i].SpamMargin, fromReloaded[i].SpamMargin));
        Assert.All(spam, i => Assert.Equal("spam-v2", fromSwapped[i].SpamModel!.Version));
        // The claims and NER heads did not change, so neither did what they serve.
        Assert.All(fromLive.Zip(fromSwapped).Where(p => (p.First.Tasks & TaskSet.Claims) != 0), p => Assert.Equal(p.First.ClaimMargin, p.Second.ClaimMargin));

        // The shared session outlives the set it came from.
        live.Dispose();
        var afterDispose = Works();
        reloaded.Run(afterDispose);
        Assert.All(spam, i => Assert.Equal(fromReloaded[i].SpamMargin, afterDispose[i].SpamMargin));
    }

    [Fact]
    public void Run_SessionWithHeadsInTheGraph_RefusesToReturnHiddenStates()
    {
        using var models = ModelSet.Load([WriteSpamBundle("spam", seed: 1)]);
        using var batch = new EncoderBatch(1, 3);
        batch.SetRow(0, [101, 7592, 102]);

        Assert.Throws<InvalidOperationException>(() => models.Encoders[0].Run(batch));
    }

    /// <summary>Sequences with every mix of tasks: spam alone, claims with NER (articles), and all three.</summary>
    private List<SequenceWork> Works()
    {
        var works = new List<SequenceWork>();
        for (var i = 0; i < Texts.Length; i++)
        {
            var text = Texts[i];
            var tokens = new List<Token>();
            _tokenizer.Tokenize(text, tokens);
            var tasks = (i % 3) switch
            {
                0 => TaskSet.Spam,
                1 => TaskSet.Claims | TaskSet.Ner,
                _ => TaskSet.Spam | TaskSet.Claims | TaskSet.Ner,
            };
            works.Add(new SequenceWork
            {
                Ids = [_tokenizer.ClsId, .. tokens.Select(t => t.Id), _tokenizer.SepId],
                Tasks = tasks,
                WordShapes = WordShape.ForSequence(text, tokens, 0, tokens.Count),
            });
        }

        return works;
    }

    /// <summary>Mean pooling over layers 5 and 6, standardised, GELU hidden layer.</summary>
    private string WriteSpamBundle(string version, int seed)
    {
        int[] layers = [5, 6];
        var head = RandomHead(Features.Width(384, layers.Length), 16, 2, HeadActivation.Gelu, seed);
        return WriteBundle("spam", version, new Dictionary<string, (HeadSpec, DenseHead)>
        {
            [TaskNames.Spam] = (Spec("sequence", LabelSets.SpamLabels, layers, "mean", wordShape: false, "spam.head"), head),
        });
    }

    /// <summary>Claims: cls pooling, linear, standardised. NER: word shapes, standardised, ReLU hidden layer.</summary>
    private string WriteArticlesBundle()
    {
        int[] claimLayers = [4, 6];
        int[] nerLayers = [6];
        var claims = RandomHead(Features.Width(384, claimLayers.Length), 0, 2, HeadActivation.None, seed: 3);
        var ner = RandomHead(Features.Width(384, nerLayers.Length) + WordShape.Size, 24, LabelSets.NerTags.Count, HeadActivation.Relu, seed: 4);
        return WriteBundle("articles", "a1", new Dictionary<string, (HeadSpec, DenseHead)>
        {
            [TaskNames.Claims] = (Spec("sequence", LabelSets.ClaimLabels, claimLayers, "cls", wordShape: false, "claims.head"), claims),
            [TaskNames.Ner] = (Spec("token", LabelSets.NerTags, nerLayers, "mean", wordShape: true, "ner.head"), ner),
        });
    }

    private static HeadSpec Spec(string kind, IReadOnlyList<string> labels, int[] layers, string pooling, bool wordShape, string file) =>
        new() { Kind = kind, Labels = labels, Layers = layers, Pooling = pooling, WordShape = wordShape, File = file };

    /// <summary>
    /// A head with fixed pseudo-random weights, scaled so its outputs vary over the texts, and standardisation statistics
    /// of the order of MiniLM's hidden states (so standardising matters).
    /// </summary>
    private static DenseHead RandomHead(int inputs, int hidden, int classes, HeadActivation activation, int seed)
    {
        var head = new DenseHead(inputs, hidden, classes, activation, standardizeInput: true);
        var random = new Random(seed);
        float Next(double scale) => (float)((random.NextDouble() - 0.5) * 2 * scale);
        var mean = new float[inputs];
        var std = new float[inputs];
        for (var i = 0; i < inputs; i++)
        {
            mean[i] = Next(0.2);
            std[i] = 0.3f + Math.Abs(Next(0.5));
        }

        head.SetStandardization(mean, std);
        foreach (var array in new[] { head.HiddenWeightsArray, head.HiddenBiasArray, head.OutputWeightsArray, head.OutputBiasArray })
        {
            var scale = 1 / Math.Sqrt(array == head.OutputWeightsArray ? head.OutputInputDim : inputs);
            for (var i = 0; i < array.Length; i++)
            {
                array[i] = Next(2 * scale);
            }
        }

        return head;
    }

    private string WriteBundle(string name, string version, Dictionary<string, (HeadSpec Spec, DenseHead Head)> heads)
    {
        var encoder = MiniLmResources.Ensure();
        var dir = Path.Combine(_root, name, version);
        Directory.CreateDirectory(dir);
        File.Copy(encoder.VocabPath, Path.Combine(dir, "vocab.txt"));
        foreach (var (spec, head) in heads.Values)
        {
            using var stream = File.Create(Path.Combine(dir, spec.File));
            head.Save(stream);
        }

        var manifest = new BundleManifest
        {
            Name = name,
            Version = version,
            CreatedAt = DateTimeOffset.UnixEpoch,
            Encoder = new EncoderRef { Base = encoder.Name, Sha256 = encoder.ModelSha256 },
            Heads = heads.ToDictionary(h => h.Key, h => h.Value.Spec),
            Files = ModelRegistry.HashFiles(dir),
        };
        File.WriteAllText(Path.Combine(dir, ModelRegistry.ManifestFile), JsonSerializer.Serialize(manifest, ModelRegistry.Json));
        return dir;
    }
}
