using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using StreamBert.Contracts;
using StreamBert.Engine.Heads;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;

namespace StreamBert.Engine.Inference;

/// <summary>A task head ready to run: its spec, weights and the bundle version it came from.</summary>
public sealed record TaskHead(string Task, HeadSpec Spec, DenseHead Head, ModelRef Model, int EncoderIndex, int MaxSequenceLength)
{
    /// <summary>Sequence heads: the manifest's calibration (identity when it has none).</summary>
    public ScoreCalibrator Calibrator { get; } = new(Spec.Calibration);

    /// <summary>
    /// Sequence heads: the calibrated score at or above which the positive label is served, from the manifest's operating
    /// point; 0.5 for a manifest without one (what every version served before operating points existed).
    /// </summary>
    public double Threshold { get; } = Spec.OperatingPoint?.Threshold ?? DefaultThreshold;

    public const double DefaultThreshold = 0.5;
}

/// <summary>
/// The loaded, verified bundles a processor serves: one ONNX Runtime session per distinct encoder graph
/// (bundles whose heads sit on the same pretrained encoder share it) and the task heads. A sequence therefore goes
/// through its encoder once, whatever number of tasks read it. By default every head on an encoder runs inside that
/// encoder's session (<see cref="HeadGraph"/>, <see cref="SessionSettings.HeadsInGraph"/>), so a batch is one ONNX Runtime
/// call that returns the heads' outputs; a later set shares a session only when both its graph and its heads are the
/// same. Immutable once built; a new version means a new set.
/// </summary>
public sealed class ModelSet : IDisposable
{
    private readonly List<SharedEncoder> _shared;
    private int _disposed;
    private long _sequencesEncoded;
    private readonly List<EncoderSession> _encoders;
    private readonly Dictionary<string, TaskHead> _heads;

    private ModelSet(List<SharedEncoder> encoders, Dictionary<string, TaskHead> heads, WordPieceTokenizer tokenizer, IReadOnlyDictionary<string, BundleManifest> bundles, IReadOnlyDictionary<string, string> directories, string vocabSha256)
    {
        _shared = encoders;
        _encoders = [.. encoders.Select(e => e.Session)];
        _heads = heads;
        Tokenizer = tokenizer;
        Bundles = bundles;
        Directories = directories;
        VocabSha256 = vocabSha256;
    }

    public WordPieceTokenizer Tokenizer { get; }

    /// <summary>Manifests of the loaded bundles, by bundle name.</summary>
    public IReadOnlyDictionary<string, BundleManifest> Bundles { get; }

    /// <summary>The folder each bundle was loaded from, by bundle name.</summary>
    public IReadOnlyDictionary<string, string> Directories { get; }

    /// <summary>The task → bundle choices this set was loaded with (a hot swap loads its successor with the same).</summary>
    public IReadOnlyDictionary<string, string> TaskBundles { get; private init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>sha256 of the vocabulary every bundle of the set shares.</summary>
    public string VocabSha256 { get; }

    public IReadOnlyList<EncoderSession> Encoders => _encoders;

    /// <summary>The precision the encoders were loaded at (a hot swap loads its successor at the same).</summary>
    public EncoderPrecision Precision { get; private init; }

    /// <summary>sha256 of each served encoder graph (the int8 file's at int8), in <see cref="Encoders"/> order.</summary>
    public IReadOnlyList<string> EncoderSha256 => [.. _shared.Select(e => e.Sha256)];

    /// <summary>The task heads, by task name.</summary>
    public IReadOnlyDictionary<string, TaskHead> Heads => _heads;

    public ExecutionDevice Device => _encoders[0].Device;

    /// <summary>
    /// Sequences sent through an encoder of this set since it was loaded, summed over <see cref="Run"/> calls from any
    /// thread: a sequence whose tasks sit on two encoders counts twice. The proof of one pass outside the processor
    /// (benches, offline scoring), where no <c>ProcessorMetrics</c> counts; an encoder shared with another set is
    /// counted by the set that ran it.
    /// </summary>
    public long SequencesEncoded => Interlocked.Read(ref _sequencesEncoded);

    public TaskHead? Head(string task) => _heads.GetValueOrDefault(task);

    public TaskHead RequiredHead(string task) =>
        _heads.GetValueOrDefault(task) ?? throw new InvalidOperationException($"No loaded bundle serves task {task}.");

    /// <summary>Whether the encoder at <paramref name="encoderIndex"/> reads case token types: its sequences must carry word shapes.</summary>
    public bool ReadsCaseTypes(int encoderIndex) => _shared[encoderIndex].CaseTypes;

    /// <summary>Loads and verifies bundles (folder paths); fails on any sha256 mismatch or shape error.</summary>
    /// <param name="reuse">
    /// A live set whose encoder sessions may be shared where the graph (sha256) and the layers are the same: a new
    /// version that only changed heads then loads in milliseconds and costs no second copy of the encoder.
    /// </param>
    /// <param name="taskBundles">
    /// Task → the bundle that serves it when several loaded bundles have a head for it (a fine-tuned <c>ner-full</c>
    /// beside <c>articles</c>); the other bundles' heads for that task are not loaded. Without an entry, two bundles
    /// with the same task are an error.
    /// </param>
    [SuppressMessage("Reliability", "CA2000:Dispose objects before losing scope", Justification = "Each encoder session is owned by its SharedEncoder in the list that the returned set disposes, and that the catch below disposes when loading fails.")]
    public static ModelSet Load(
        IReadOnlyCollection<string> bundleDirectories, SessionSettings? settings = null, ModelSet? reuse = null, IReadOnlyDictionary<string, string>? taskBundles = null)
    {
        ArgumentOutOfRangeException.ThrowIfZero(bundleDirectories.Count);
        taskBundles ??= new Dictionary<string, string>(StringComparer.Ordinal);
        var manifests = new List<(string Dir, BundleManifest Manifest)>();
        foreach (var dir in bundleDirectories)
        {
            if (ModelRegistry.Verify(dir) is { } problem)
            {
                throw new InvalidDataException($"Bundle {dir} failed verification: {problem}.");
            }

            manifests.Add((dir, ModelRegistry.ReadManifest(dir)));
        }

        var loadedNames = manifests.Select(m => m.Manifest.Name).ToHashSet(StringComparer.Ordinal);
        bool Serves(BundleManifest manifest, string task) =>
            !taskBundles.TryGetValue(task, out var owner) || !loadedNames.Contains(owner) || owner == manifest.Name;

        var encoderKeys = new List<string>();
        var encoderPaths = new List<string>();
        var encoderLayers = new List<SortedSet<int>>();
        var encoderCaseTypes = new List<bool>();
        var encoderOfBundle = new List<int>();
        var vocabPaths = new HashSet<string>();
        foreach (var (dir, manifest) in manifests)
        {
            var (path, sha256) = ResolveEncoder(dir, manifest, settings?.Precision ?? EncoderPrecision.Fp32);
            var index = encoderKeys.IndexOf(sha256);
            if (index < 0)
            {
                encoderKeys.Add(sha256);
                encoderPaths.Add(path);
                encoderLayers.Add([]);
                encoderCaseTypes.Add(IsCaseTyped(manifest.Encoder));
                index = encoderKeys.Count - 1;
            }
            else if (encoderCaseTypes[index] != IsCaseTyped(manifest.Encoder))
            {
                throw new InvalidDataException($"Bundles on encoder {sha256} disagree on its token types.");
            }

            foreach (var (task, head) in manifest.Heads)
            {
                if (Serves(manifest, task))
                {
                    encoderLayers[index].UnionWith(head.Layers);
                }
            }

            encoderOfBundle.Add(index);
            vocabPaths.Add(Path.Combine(dir, manifest.Encoder.Vocab));
        }

        var vocabHashes = vocabPaths.Select(FileHash.Sha256).Distinct().ToList();
        if (vocabHashes.Count != 1)
        {
            throw new InvalidDataException("Bundles served together must share one vocabulary.");
        }

        var tokenizer = WordPieceTokenizer.FromFile(vocabPaths.First());
        var headsInGraph = settings?.HeadsInGraph ?? true;
        var heads = new Dictionary<string, TaskHead>();
        var headKeys = new List<string>[encoderKeys.Count];
        for (var i = 0; i < headKeys.Length; i++)
        {
            headKeys[i] = [];
        }

        foreach (var ((dir, manifest), encoderIndex) in manifests.Zip(encoderOfBundle))
        {
            var model = new ModelRef(manifest.Name, manifest.Version);
            foreach (var (task, spec) in manifest.Heads.Where(h => Serves(manifest, h.Key)))
            {
                var path = Path.Combine(dir, spec.File);
                DenseHead head;
                using (var stream = File.OpenRead(path))
                {
                    head = DenseHead.Load(stream);
                }

                if (!heads.TryAdd(task, new TaskHead(task, spec, head, model, encoderIndex, manifest.MaxSequenceLength)))
                {
                    throw new InvalidDataException($"Two bundles serve task {task}.");
                }

                // What a session with this head in its graph is a function of: the weights and how they are read.
                headKeys[encoderIndex].Add($"{task}:{FileHash.Sha256(path)}:{string.Join(',', spec.Layers)}:{spec.Pooling}:{spec.WordShape}");
            }
        }

        var encoders = new List<SharedEncoder>();
        try
        {
            for (var i = 0; i < encoderPaths.Count; i++)
            {
                // With heads in the graph a session serves exactly its heads, so it is shared only where they are the same.
                var key = headsInGraph ? $"{encoderKeys[i]}|{string.Join('|', headKeys[i].Order(StringComparer.Ordinal))}" : encoderKeys[i];
                var donor = reuse?._shared.FirstOrDefault(e => e.Key == key && e.Session.Layers.SequenceEqual(encoderLayers[i]));
                if (donor is not null)
                {
                    encoders.Add(donor.AddRef());
                    continue;
                }

                var graphHeads = headsInGraph
                    ? heads.Values.Where(h => h.EncoderIndex == i).OrderBy(h => h.Task, StringComparer.Ordinal).Select(h => new GraphHead(h.Task, h.Spec, h.Head, PerToken: h.Task == TaskNames.Ner)).ToList()
                    : [];
                var session = new EncoderSession(File.ReadAllBytes(encoderPaths[i]), encoderLayers[i], graphHeads, settings);
                encoders.Add(new SharedEncoder(encoderKeys[i], key, session, encoderCaseTypes[i]));
            }

            foreach (var (task, taskHead) in heads)
            {
                var spec = taskHead.Spec;
                var expected = Features.Width(encoders[taskHead.EncoderIndex].Session.HiddenSize, spec.Layers.Count) + (spec.WordShape ? WordShape.Size : 0);
                if (taskHead.Head.InputDim != expected || taskHead.Head.ClassCount != spec.Labels.Count)
                {
                    throw new InvalidDataException(
                        $"Head {task} of {taskHead.Model.Name} {taskHead.Model.Version} is {taskHead.Head.InputDim}→{taskHead.Head.ClassCount}, expected {expected}→{spec.Labels.Count}.");
                }
            }

            return new ModelSet(
                encoders,
                heads,
                tokenizer,
                manifests.ToDictionary(m => m.Manifest.Name, m => m.Manifest),
                manifests.ToDictionary(m => m.Manifest.Name, m => m.Dir),
                vocabHashes[0])
            {
                TaskBundles = taskBundles,
                Precision = settings?.Precision ?? EncoderPrecision.Fp32,
            };
        }
        catch
        {
            foreach (var encoder in encoders)
            {
                encoder.Release();
            }

            throw;
        }
    }

    /// <summary>
    /// Runs one batch and fills each sequence's head outputs. Called from one thread. The encoder a task runs on is
    /// taken from this set's heads, not from <see cref="SequenceWork.EncoderIndex"/>: a sequence prepared before a hot
    /// swap may meet a set whose bundles sit on other encoders (a fine-tuned version brings its own graph), and the
    /// tasks of one sequence (claims and NER of an article sentence) may sit on different encoders. Such a batch runs
    /// as one call per encoder, each filling the outputs of the heads on it.
    /// </summary>
    /// <returns>Positions sent through the encoder(s), padding included: rows × row length, summed over the calls.</returns>
    public int Run(IReadOnlyList<SequenceWork> batch)
    {
        if (batch.Count == 0)
        {
            return 0;
        }

        var first = -1;
        var mixed = false;
        foreach (var work in batch)
        {
            foreach (var task in TasksOf(work))
            {
                var encoder = RequiredHead(task).EncoderIndex;
                first = first < 0 ? encoder : first;
                mixed |= encoder != first;
            }
        }

        if (first < 0)
        {
            throw new ArgumentException("A sequence names no task.", nameof(batch));
        }

        if (!mixed)
        {
            return RunOnEncoder(first, batch);
        }

        var positions = 0;
        for (var encoder = 0; encoder < _encoders.Count; encoder++)
        {
            var group = batch.Where(w => TasksOf(w).Any(t => _heads[t].EncoderIndex == encoder)).ToList();
            if (group.Count > 0)
            {
                positions += RunOnEncoder(encoder, group);
            }
        }

        return positions;
    }

    private static IEnumerable<string> TasksOf(SequenceWork work)
    {
        if ((work.Tasks & TaskSet.Spam) != 0)
        {
            yield return TaskNames.Spam;
        }

        if ((work.Tasks & TaskSet.Claims) != 0)
        {
            yield return TaskNames.Claims;
        }

        if ((work.Tasks & TaskSet.Ner) != 0)
        {
            yield return TaskNames.Ner;
        }
    }

    /// <summary>Row lengths a packing encoder tries (besides the longest sequence of the batch); it keeps the cheapest.</summary>
    private static readonly int[] PackedRowLengths = [64, 96, 128, 192, 256];

    /// <summary>
    /// Where each sequence of a batch goes: one per row for an encoder that cannot pack; otherwise first-fit
    /// decreasing into rows of one length, chosen among the longest sequence and <see cref="PackedRowLengths"/> by the
    /// estimated cost rows × length × (1 + length / <paramref name="attentionCostLength"/>): a position pays the dense
    /// layers once and attention in proportion to its row's length (a packed row attends over all of it and masks the
    /// other sequences out), so longer rows waste less on leftovers but pay more per position. The constant is the
    /// encoder's <see cref="EncoderSession.AttentionCostLength"/>, measured per precision: counted in FLOPs it would
    /// be 6·d = 2,304 for MiniLM, but attention runs far below the dense kernels' rate.
    /// Returns the rows, the row length actually used (the fullest row), and each sequence's row and offset.
    /// </summary>
    public static (int Rows, int Length, (int Row, int Offset)[] Places) Pack(IReadOnlyList<int> lengths, bool packing, double attentionCostLength = EncoderSession.Fp32AttentionCostLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(attentionCostLength);
        var places = new (int Row, int Offset)[lengths.Count];
        var longest = 0;
        for (var i = 0; i < lengths.Count; i++)
        {
            longest = Math.Max(longest, lengths[i]);
        }

        if (!packing || lengths.Count < 2)
        {
            for (var i = 0; i < places.Length; i++)
            {
                places[i] = (i, 0);
            }

            return (lengths.Count, longest, places);
        }

        var order = Enumerable.Range(0, lengths.Count).OrderByDescending(i => lengths[i]).ThenBy(i => i).ToArray();
        var best = (Cost: double.MaxValue, Rows: 0, Length: 0, Capacity: 0);
        foreach (var capacity in PackedRowLengths.Where(c => c > longest).Prepend(longest))
        {
            var (rows, length) = FirstFitDecreasing(lengths, order, capacity, places);
            var cost = (double)rows * length * (1 + (length / attentionCostLength));
            if (cost < best.Cost)
            {
                best = (cost, rows, length, capacity);
            }
        }

        FirstFitDecreasing(lengths, order, best.Capacity, places);
        return (best.Rows, best.Length, places);
    }

    private static (int Rows, int Length) FirstFitDecreasing(IReadOnlyList<int> lengths, int[] order, int capacity, (int Row, int Offset)[] places)
    {
        var fill = new List<int>();
        foreach (var i in order)
        {
            var row = fill.FindIndex(f => f + lengths[i] <= capacity);
            if (row < 0)
            {
                fill.Add(0);
                row = fill.Count - 1;
            }

            places[i] = (row, fill[row]);
            fill[row] += lengths[i];
        }

        return (fill.Count, fill.Max());
    }

    private int RunOnEncoder(int encoderIndex, IReadOnlyList<SequenceWork> batch)
    {
        var lengths = new int[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            lengths[i] = batch[i].Ids.Length;
        }

        var encoder = _encoders[encoderIndex];
        var (rows, length, places) = Pack(lengths, encoder.SupportsPacking, encoder.AttentionCostLength);
        using var input = new EncoderBatch(rows, length);
        var segments = new int[rows];
        var caseTypes = _shared[encoderIndex].CaseTypes;
        for (var i = 0; i < batch.Count; i++)
        {
            if (caseTypes && batch[i].WordShapes is null)
            {
                throw new InvalidOperationException("The encoder reads case token types; the sequence carries no word shapes.");
            }

            var (row, offset) = places[i];
            input.SetSegment(row, offset, ++segments[row], batch[i].Ids, caseTypes ? batch[i].WordShapes : default);
        }

        Interlocked.Add(ref _sequencesEncoded, batch.Count);
        if (encoder.Heads.Count > 0)
        {
            RunHeadsInGraph(encoder, input, batch, places);
        }
        else
        {
            RunHeadsOnHiddenStates(encoderIndex, input, batch, places);
        }

        return rows * length;
    }

    /// <summary>
    /// One ONNX Runtime call returns every head's output (<see cref="HeadGraph"/>): each sequence head gets pooling
    /// weights per row and slot for the sequences that want it, the token head the flat positions (and word shapes) of
    /// the pieces it tags, positions 1…n−2 of each sequence as the C# path tags.
    /// </summary>
    private void RunHeadsInGraph(EncoderSession encoder, EncoderBatch input, IReadOnlyList<SequenceWork> batch, (int Row, int Offset)[] places)
    {
        var length = input.Length;
        var heads = encoder.Heads;
        var feeds = new HeadFeed[heads.Count];
        var floats = new List<float[]>(heads.Count);
        var longs = new List<long[]>(heads.Count);
        try
        {
            for (var h = 0; h < heads.Count; h++)
            {
                var head = heads[h];
                var flag = FlagOf(head.Task);
                if (!head.PerToken)
                {
                    // Slot k of a row pools the k-th sequence of that row that wants this head.
                    var perRow = new int[input.Rows];
                    var count = 0;
                    for (var i = 0; i < batch.Count; i++)
                    {
                        if ((batch[i].Tasks & flag) != 0)
                        {
                            perRow[places[i].Row]++;
                            count++;
                        }
                    }

                    var slots = Math.Max(1, perRow.Max());
                    var pool = Rent(floats, input.Rows * slots * length);
                    Array.Clear(pool, 0, input.Rows * slots * length);
                    var indices = Rent(longs, count);
                    Array.Clear(perRow);
                    var cls = head.Spec.Pooling == "cls";
                    var s = 0;
                    for (var i = 0; i < batch.Count; i++)
                    {
                        if ((batch[i].Tasks & flag) == 0)
                        {
                            continue;
                        }

                        var (row, offset) = places[i];
                        var slot = (row * slots) + perRow[row]++;
                        var tokens = batch[i].Ids.Length;
                        var first = (slot * length) + offset;
                        if (cls)
                        {
                            pool[first] = 1;
                        }
                        else
                        {
                            Array.Fill(pool, 1f / tokens, first, tokens);
                        }

                        indices[s++] = slot;
                    }

                    feeds[h] = new HeadFeed(count, slots, pool, indices, Memory<float>.Empty);
                    continue;
                }

                var pieces = 0;
                foreach (var work in batch)
                {
                    pieces += (work.Tasks & flag) != 0 ? Math.Max(0, work.Ids.Length - 2) : 0;
                }

                var flat = Rent(longs, pieces);
                var shapes = head.Spec.WordShape ? Rent(floats, pieces * WordShape.Size) : [];
                var k = 0;
                for (var i = 0; i < batch.Count; i++)
                {
                    var work = batch[i];
                    if ((work.Tasks & flag) == 0)
                    {
                        continue;
                    }

                    if (head.Spec.WordShape && work.WordShapes is null)
                    {
                        throw new InvalidOperationException("The NER head reads word shapes; the sequence carries none.");
                    }

                    var first = (places[i].Row * length) + places[i].Offset;
                    for (var position = 1; position < work.Ids.Length - 1; position++, k++)
                    {
                        flat[k] = first + position;
                    }

                    if (head.Spec.WordShape && work.Ids.Length > 2)
                    {
                        var span = (work.Ids.Length - 2) * WordShape.Size;
                        work.WordShapes.AsSpan(WordShape.Size, span).CopyTo(shapes.AsSpan((k * WordShape.Size) - span, span));
                    }
                }

                feeds[h] = new HeadFeed(pieces, 0, Memory<float>.Empty, flat, shapes);
            }

            using var outputs = encoder.RunHeads(input, feeds);
            for (var h = 0; h < heads.Count; h++)
            {
                var taskHead = _heads[heads[h].Task];
                var flag = FlagOf(taskHead.Task);
                var values = outputs.Of(h);
                var classes = taskHead.Spec.Labels.Count;
                var next = 0;
                foreach (var work in batch)
                {
                    if ((work.Tasks & flag) == 0)
                    {
                        continue;
                    }

                    if (!heads[h].PerToken)
                    {
                        // Label sets put the positive class last (ham/spam, no-claim/claim).
                        var logits = values.Slice(next * classes, classes);
                        SetScore(work, taskHead, logits[^1] - logits[^2]);
                        next++;
                        continue;
                    }

                    var probabilities = new float[work.Ids.Length * classes];
                    var pieces = Math.Max(0, work.Ids.Length - 2);
                    values.Slice(next * classes, pieces * classes).CopyTo(probabilities.AsSpan(classes, pieces * classes));
                    next += pieces;
                    work.TagProbabilities = probabilities;
                    work.EntitiesModel = taskHead.Model;
                }
            }
        }
        finally
        {
            foreach (var array in floats)
            {
                ArrayPool<float>.Shared.Return(array);
            }

            foreach (var array in longs)
            {
                ArrayPool<long>.Shared.Return(array);
            }
        }
    }

    /// <summary>A pooled buffer of at least one element (ONNX Runtime needs an address even for an empty tensor), remembered for return.</summary>
    private static T[] Rent<T>(List<T[]> rented, int length)
    {
        var array = ArrayPool<T>.Shared.Rent(Math.Max(1, length));
        rented.Add(array);
        return array;
    }

    /// <summary>The hidden states come back from ONNX Runtime and the C# heads (<see cref="DenseHead.Forward(ReadOnlySpan{float}, Span{float})"/>) read them.</summary>
    private void RunHeadsOnHiddenStates(int encoderIndex, EncoderBatch input, IReadOnlyList<SequenceWork> batch, (int Row, int Offset)[] places)
    {
        using var states = _encoders[encoderIndex].Run(input);
        var spam = OnEncoder(TaskNames.Spam, encoderIndex);
        var claims = OnEncoder(TaskNames.Claims, encoderIndex);
        var ner = OnEncoder(TaskNames.Ner, encoderIndex);
        var features = new float[MaxFeatureWidth(states.Hidden)];
        var logits = new float[LabelSets.NerTags.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            var work = batch[i];
            var (row, start) = places[i];
            if ((work.Tasks & TaskSet.Spam) != 0 && spam is not null)
            {
                var head = spam;
                work.SpamMargin = PositiveMargin(head, states, row, start, work.Ids.Length, features, logits);
                work.SpamScore = (float)head.Calibrator.Probability(work.SpamMargin);
                work.SpamThreshold = head.Threshold;
                work.SpamModel = head.Model;
            }

            if ((work.Tasks & TaskSet.Claims) != 0 && claims is not null)
            {
                var head = claims;
                work.ClaimMargin = PositiveMargin(head, states, row, start, work.Ids.Length, features, logits);
                work.ClaimScore = (float)head.Calibrator.Probability(work.ClaimMargin);
                work.ClaimThreshold = head.Threshold;
                work.ClaimsModel = head.Model;
            }

            if ((work.Tasks & TaskSet.Ner) != 0 && ner is not null)
            {
                var head = ner;
                var tags = head.Spec.Labels.Count;
                var probabilities = new float[work.Ids.Length * tags];
                var width = Features.Width(states.Hidden, head.Spec.Layers.Count);
                var inputWidth = width + (head.Spec.WordShape ? WordShape.Size : 0);
                if (head.Spec.WordShape && work.WordShapes is null)
                {
                    throw new InvalidOperationException("The NER head reads word shapes; the sequence carries none.");
                }

                for (var position = 1; position < work.Ids.Length - 1; position++)
                {
                    Features.Token(states, head.Spec.Layers, row, start + position, features.AsSpan(0, width));
                    if (head.Spec.WordShape)
                    {
                        work.WordShapes.AsSpan(position * WordShape.Size, WordShape.Size).CopyTo(features.AsSpan(width, WordShape.Size));
                    }

                    var target = probabilities.AsSpan(position * tags, tags);
                    head.Head.Forward(features.AsSpan(0, inputWidth), target);
                    DenseHead.Softmax(target);
                }

                work.TagProbabilities = probabilities;
                work.EntitiesModel = head.Model;
            }
        }

    }

    private static TaskSet FlagOf(string task) => task switch
    {
        TaskNames.Spam => TaskSet.Spam,
        TaskNames.Claims => TaskSet.Claims,
        TaskNames.Ner => TaskSet.Ner,
        _ => throw new InvalidDataException($"Unknown task {task}."),
    };

    /// <summary>Sets a sequence head's margin and what follows from it: the calibrated score, the threshold and the model.</summary>
    private static void SetScore(SequenceWork work, TaskHead head, float margin)
    {
        if (head.Task == TaskNames.Spam)
        {
            work.SpamMargin = margin;
            work.SpamScore = (float)head.Calibrator.Probability(margin);
            work.SpamThreshold = head.Threshold;
            work.SpamModel = head.Model;
        }
        else
        {
            work.ClaimMargin = margin;
            work.ClaimScore = (float)head.Calibrator.Probability(margin);
            work.ClaimThreshold = head.Threshold;
            work.ClaimsModel = head.Model;
        }
    }

    /// <summary>The head of <paramref name="task"/> when it reads encoder <paramref name="encoderIndex"/> (Run has checked every task has one).</summary>
    private TaskHead? OnEncoder(string task, int encoderIndex) =>
        _heads.TryGetValue(task, out var head) && head.EncoderIndex == encoderIndex ? head : null;

    private static bool IsCaseTyped(EncoderRef encoder) => encoder.TokenTypes switch
    {
        null => false,
        EncoderRef.CaseTokenTypes => true,
        var other => throw new InvalidDataException($"Unknown encoder token types '{other}' (known: {EncoderRef.CaseTokenTypes})."),
    };

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var encoder in _shared)
        {
            encoder.Release();
        }
    }

    private int MaxFeatureWidth(int hidden)
    {
        var max = hidden;
        foreach (var head in _heads.Values)
        {
            max = Math.Max(max, Features.Width(hidden, head.Spec.Layers.Count) + WordShape.Size);
        }

        return max;
    }

    /// <summary>Positive logit minus negative logit: the softmax probability is sigmoid of it, calibration maps it.</summary>
    private static float PositiveMargin(TaskHead head, HiddenStates states, int row, int start, int tokens, float[] features, float[] logits)
    {
        var width = Features.Width(states.Hidden, head.Spec.Layers.Count);
        Features.Sequence(states, head.Spec.Layers, head.Spec.Pooling, row, start, tokens, features.AsSpan(0, width));
        var output = logits.AsSpan(0, head.Spec.Labels.Count);
        head.Head.Forward(features.AsSpan(0, width), output);
        // Label sets put the positive class last (ham/spam, no-claim/claim).
        return output[^1] - output[^2];
    }

    /// <summary>
    /// The graph file a bundle is served with at <paramref name="precision"/>, and its sha256 (the key encoder sessions
    /// are shared by). int8: the bundle's own int8 file when its manifest records one (checked against its sha256), else
    /// the fp32 graph quantised once into the content-addressed cache (<see cref="Int8EncoderCache"/>), so every bundle
    /// can be served int8, heads-only ones included.
    /// </summary>
    private static (string Path, string Sha256) ResolveEncoder(string dir, BundleManifest manifest, EncoderPrecision precision)
    {
        var fp32 = BundleQuantizer.Fp32EncoderPath(dir, manifest);
        if (precision == EncoderPrecision.Fp32)
        {
            return (fp32, manifest.Encoder.Sha256);
        }

        if (manifest.Int8Encoder is { } int8)
        {
            if (ModelRegistry.VerifyInt8(dir, manifest) is { } problem)
            {
                throw new InvalidDataException($"Bundle {manifest.Name} {manifest.Version}: {problem}.");
            }

            return (Path.Combine(dir, int8.File), int8.Sha256);
        }

        var cached = Int8EncoderCache.Ensure(fp32, manifest.Encoder.Sha256);
        return (cached.ModelPath, cached.Sha256);
    }

    /// <summary>An encoder session that successive versions may share; disposed when the last set using it is.</summary>
    private sealed class SharedEncoder(string sha256, string key, EncoderSession session, bool caseTypes)
    {
        private int _references = 1;

        public string Sha256 { get; } = sha256;

        /// <summary>What a later set may share this session by: the graph's sha256, and with heads in the graph, the heads'.</summary>
        public string Key { get; } = key;

        /// <summary>Whether its token types are case types (<see cref="EncoderRef.CaseTokenTypes"/>).</summary>
        public bool CaseTypes { get; } = caseTypes;

        public EncoderSession Session { get; } = session;

        public SharedEncoder AddRef()
        {
            Interlocked.Increment(ref _references);
            return this;
        }

        public void Release()
        {
            if (Interlocked.Decrement(ref _references) == 0)
            {
                Session.Dispose();
            }
        }
    }
}
