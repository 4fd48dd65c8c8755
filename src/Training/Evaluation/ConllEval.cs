namespace StreamBert.Training.Evaluation;

/// <summary>An entity (chunk) found in a tag sequence: tokens <see cref="Start"/> to <see cref="End"/>, end exclusive.</summary>
public readonly record struct Chunk(string Type, int Start, int End);

/// <summary>Entity counts and scores, overall or for one entity type.</summary>
public sealed record EntityScores(int Gold, int Predicted, int Correct)
{
    /// <summary>Correct / Predicted (0 when nothing was predicted).</summary>
    public double Precision => BinaryMetrics.Ratio(Correct, Predicted);

    /// <summary>Correct / Gold (0 when there are no gold entities).</summary>
    public double Recall => BinaryMetrics.Ratio(Correct, Gold);

    /// <summary>2PR / (P + R), 0 when both are 0.</summary>
    public double F1 => BinaryMetrics.Ratio(2 * Precision * Recall, Precision + Recall);
}

/// <summary>Result of <see cref="ConllEval"/>: micro-averaged entity scores, scores per type, and token accuracy.</summary>
public sealed record ConllEvalResult
{
    /// <summary>Entity-level micro scores over all types.</summary>
    public required EntityScores Overall { get; init; }

    /// <summary>Scores per entity type (types seen in gold or predictions), ordinal order.</summary>
    public required IReadOnlyDictionary<string, EntityScores> PerType { get; init; }

    /// <summary>Tokens evaluated.</summary>
    public required int Tokens { get; init; }

    /// <summary>Tokens whose predicted tag equals the gold tag exactly.</summary>
    public required int CorrectTags { get; init; }

    /// <summary>CorrectTags / Tokens, conlleval's "accuracy".</summary>
    public double TokenAccuracy => BinaryMetrics.Ratio(CorrectTags, Tokens);

    /// <inheritdoc/>
    public override string ToString() =>
        $"tokens={Tokens} gold={Overall.Gold} found={Overall.Predicted} correct={Overall.Correct} " +
        $"acc={TokenAccuracy:F4} P={Overall.Precision:F4} R={Overall.Recall:F4} F1={Overall.F1:F4}";
}

/// <summary>
/// Entity-level evaluation with the semantics of the CoNLL shared tasks' <c>conlleval</c> script (version 2004-01-26):
/// an entity counts as correct only if its type and both boundaries match a gold entity; precision, recall and F1 are
/// micro-averaged over entities, and per type.
/// </summary>
/// <remarks>
/// <para>Chunks are read from each tag sequence with conlleval's <c>startOfChunk</c>/<c>endOfChunk</c> rules, treating
/// every sentence as surrounded by <c>O</c>. For BIO tags this means: <c>B-X</c> always starts an entity; <c>I-X</c>
/// continues an entity of type X and otherwise (after <c>O</c>, at the start of a sentence, or after another type)
/// starts one; a change of type always ends the current entity. So <c>O I-PER</c> is a PER entity, and
/// <c>B-PER I-LOC</c> is two entities. <c>E-</c> tags and conlleval's <c>[</c>/<c>]</c> are handled as in the script.
/// Tags split at the first hyphen into prefix and type; a tag without a hyphen has an empty type.</para>
/// <para>Results are fractions in 0..1 (conlleval prints percentages).</para>
/// <para>Use one instance per evaluation: <see cref="Add"/> each sentence, then read <see cref="Result"/>.</para>
/// </remarks>
public sealed class ConllEval
{
    private readonly Dictionary<string, int[]> _perType = new(StringComparer.Ordinal); // [gold, predicted, correct]
    private int _gold, _predicted, _correct, _tokens, _correctTags;

    /// <summary>Adds one sentence.</summary>
    /// <param name="gold">Gold tags.</param>
    /// <param name="predicted">Predicted tags, as many as <paramref name="gold"/>.</param>
    public void Add(IReadOnlyList<string> gold, IReadOnlyList<string> predicted)
    {
        ArgumentNullException.ThrowIfNull(gold);
        ArgumentNullException.ThrowIfNull(predicted);
        if (gold.Count != predicted.Count)
        {
            throw new ArgumentException($"{gold.Count} gold tags but {predicted.Count} predicted tags.", nameof(predicted));
        }

        _tokens += gold.Count;
        for (int i = 0; i < gold.Count; i++)
        {
            if (string.Equals(gold[i], predicted[i], StringComparison.Ordinal))
            {
                _correctTags++;
            }
        }

        var goldChunks = ExtractChunks(gold);
        var predictedChunks = ExtractChunks(predicted);
        var goldSet = new HashSet<Chunk>(goldChunks);
        foreach (var chunk in goldChunks)
        {
            _gold++;
            Counts(chunk.Type)[0]++;
        }

        foreach (var chunk in predictedChunks)
        {
            _predicted++;
            Counts(chunk.Type)[1]++;
            if (goldSet.Contains(chunk))
            {
                _correct++;
                Counts(chunk.Type)[2]++;
            }
        }
    }

    /// <summary>Scores of the sentences added so far.</summary>
    public ConllEvalResult Result => new()
    {
        Overall = new EntityScores(_gold, _predicted, _correct),
        PerType = _perType.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .ToDictionary(kv => kv.Key, kv => new EntityScores(kv.Value[0], kv.Value[1], kv.Value[2]), StringComparer.Ordinal),
        Tokens = _tokens,
        CorrectTags = _correctTags,
    };

    /// <summary>Evaluates gold against predicted tag sequences, one pair per sentence.</summary>
    public static ConllEvalResult Evaluate(IEnumerable<(IReadOnlyList<string> Gold, IReadOnlyList<string> Predicted)> sentences)
    {
        ArgumentNullException.ThrowIfNull(sentences);
        var eval = new ConllEval();
        foreach (var (gold, predicted) in sentences)
        {
            eval.Add(gold, predicted);
        }

        return eval.Result;
    }

    /// <summary>The chunks of one sentence's tags, by conlleval's rules (see <see cref="ConllEval"/>), in order.</summary>
    public static IReadOnlyList<Chunk> ExtractChunks(IReadOnlyList<string> tags)
    {
        ArgumentNullException.ThrowIfNull(tags);
        var chunks = new List<Chunk>();
        string prevPrefix = "O", prevType = "";
        int start = -1;
        string chunkType = "";
        for (int i = 0; i <= tags.Count; i++)
        {
            // The sentence boundary after the last token is an O, which ends any open chunk.
            var (prefix, type) = i < tags.Count ? SplitTag(tags[i]) : ("O", "");
            if (start >= 0 && EndOfChunk(prevPrefix, prefix, prevType, type))
            {
                chunks.Add(new Chunk(chunkType, start, i));
                start = -1;
            }

            if (i < tags.Count && StartOfChunk(prevPrefix, prefix, prevType, type))
            {
                if (start >= 0)
                {
                    // Only reachable with tags outside BIO/BIOE; close the open chunk so chunks never overlap.
                    chunks.Add(new Chunk(chunkType, start, i));
                }

                start = i;
                chunkType = type;
            }

            prevPrefix = prefix;
            prevType = type;
        }

        return chunks;
    }

    private static (string Prefix, string Type) SplitTag(string tag)
    {
        int hyphen = tag.IndexOf('-', StringComparison.Ordinal);
        return hyphen < 0 ? (tag, "") : (tag[..hyphen], tag[(hyphen + 1)..]);
    }

    // Ports of conlleval's endOfChunk / startOfChunk; the comparisons are the script's, rule for rule.
    private static bool EndOfChunk(string prevTag, string tag, string prevType, string type) =>
        (prevTag == "B" && tag == "B") ||
        (prevTag == "B" && tag == "O") ||
        (prevTag == "I" && tag == "B") ||
        (prevTag == "I" && tag == "O") ||
        (prevTag == "E" && tag == "E") ||
        (prevTag == "E" && tag == "I") ||
        (prevTag == "E" && tag == "O") ||
        (prevTag != "O" && prevTag != "." && prevType != type) ||
        prevTag == "]" || prevTag == "[";

    private static bool StartOfChunk(string prevTag, string tag, string prevType, string type) =>
        (prevTag == "B" && tag == "B") ||
        (prevTag == "I" && tag == "B") ||
        (prevTag == "O" && tag == "B") ||
        (prevTag == "O" && tag == "I") ||
        (prevTag == "E" && tag == "E") ||
        (prevTag == "E" && tag == "I") ||
        (prevTag == "O" && tag == "E") ||
        (tag != "O" && tag != "." && prevType != type) ||
        tag == "[" || tag == "]";

    private int[] Counts(string type)
    {
        if (!_perType.TryGetValue(type, out var counts))
        {
            counts = new int[3];
            _perType[type] = counts;
        }

        return counts;
    }
}
