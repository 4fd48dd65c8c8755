using System.Runtime.InteropServices;
using StreamBert.Contracts;
using StreamBert.Engine.Decoding;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Tokenization;

namespace StreamBert.Engine.Tasks;

/// <summary>
/// Scores whole data sets through a <see cref="ModelSet"/> exactly as the processor serves them (same
/// windows, same heads, same window combination), in length-sorted batches. Evaluation goes through here
/// so a reported metric is the metric of what is deployed.
/// </summary>
public sealed class OfflineScorer
{
    /// <summary>Windows scored per text, the first ones: the processor's <c>MaxWindowsPerMessage</c> default.</summary>
    public const int DefaultMaxWindows = 16;

    private readonly ModelSet _models;
    private readonly int _batchTokens;
    private readonly int _overlap;
    private readonly int _maxWindows;

    public OfflineScorer(ModelSet models, int batchTokens = 8192, int overlap = 32, int maxWindows = DefaultMaxWindows)
    {
        _models = models;
        _batchTokens = batchTokens;
        _overlap = overlap;
        _maxWindows = maxWindows;
    }

    public Action<int, int>? Progress { get; set; }

    /// <summary>Positive-class probability per text (spam or claim), calibrated as served: the maximum over the text's windows.</summary>
    public float[] ScoreTexts(IReadOnlyList<string> texts, string task, CancellationToken cancellationToken = default)
    {
        var spam = task == TaskNames.Spam;
        var work = RunTexts(texts, task, cancellationToken);
        var scores = new float[texts.Count];
        foreach (var w in work)
        {
            var index = (int)w.State!;
            scores[index] = Math.Max(scores[index], spam ? w.SpamScore : w.ClaimScore);
        }

        return scores;
    }

    /// <summary>
    /// The head's logit margin per text before calibration: the maximum over the text's windows. Calibration is monotone,
    /// so calibrating this gives <see cref="ScoreTexts"/>; fitting a calibration starts here.
    /// </summary>
    public float[] MarginTexts(IReadOnlyList<string> texts, string task, CancellationToken cancellationToken = default)
    {
        var spam = task == TaskNames.Spam;
        var work = RunTexts(texts, task, cancellationToken);
        var margins = new float[texts.Count];
        Array.Fill(margins, float.NegativeInfinity);
        foreach (var w in work)
        {
            var index = (int)w.State!;
            margins[index] = Math.Max(margins[index], spam ? w.SpamMargin : w.ClaimMargin);
        }

        return margins;
    }

    private List<SequenceWork> RunTexts(IReadOnlyList<string> texts, string task, CancellationToken cancellationToken)
    {
        var head = _models.RequiredHead(task);
        var flag = task == TaskNames.Spam ? TaskSet.Spam : TaskSet.Claims;
        // A jointly fine-tuned articles encoder reads case token types for claims too, as the processor fills them for every sentence.
        var caseTypes = _models.ReadsCaseTypes(head.EncoderIndex);
        var work = new List<SequenceWork>();
        var tokens = new List<Token>();
        var windows = new List<(int Start, int Count)>();
        for (var i = 0; i < texts.Count; i++)
        {
            tokens.Clear();
            windows.Clear();
            _models.Tokenizer.Tokenize(texts[i], tokens);
            TokenWindows.Plan(tokens.Count, head.MaxSequenceLength, _overlap, windows);
            for (var w = 0; w < Math.Min(windows.Count, _maxWindows); w++)
            {
                work.Add(new SequenceWork
                {
                    Ids = WithSpecials(tokens, windows[w]),
                    Tasks = flag,
                    EncoderIndex = head.EncoderIndex,
                    State = i,
                    WordShapes = caseTypes ? WordShape.ForSequence(texts[i], tokens, windows[w].Start, windows[w].Count) : null,
                });
            }
        }

        RunAll(work, cancellationToken);
        return work;
    }

    /// <summary>BIO tag per word for pre-split sentences (first-subword labelling, best window per word).</summary>
    public string[][] TagWords(IReadOnlyList<IReadOnlyList<string>> sentences, CancellationToken cancellationToken = default)
    {
        var head = _models.RequiredHead(TaskNames.Ner);
        var labels = head.Spec.Labels;
        var viterbi = new BioViterbi(labels);
        var work = new List<SequenceWork>();
        var plans = new (List<Token> Tokens, List<(int Start, int Count)> Windows, int FirstWork)[sentences.Count];
        for (var s = 0; s < sentences.Count; s++)
        {
            var tokens = new List<Token>();
            var windows = new List<(int Start, int Count)>();
            _models.Tokenizer.TokenizeWords(sentences[s], tokens);
            TokenWindows.Plan(tokens.Count, head.MaxSequenceLength, _overlap, windows);
            plans[s] = (tokens, windows, work.Count);
            var joined = string.Join(' ', sentences[s]);
            foreach (var window in windows)
            {
                work.Add(new SequenceWork
                {
                    Ids = WithSpecials(tokens, window),
                    Tasks = TaskSet.Ner,
                    EncoderIndex = head.EncoderIndex,
                    WordShapes = WordShape.ForSequence(joined, tokens, window.Start, window.Count),
                });
            }
        }

        RunAll(work, cancellationToken);
        var result = new string[sentences.Count][];
        for (var s = 0; s < sentences.Count; s++)
        {
            var (tokens, windows, firstWork) = plans[s];
            // Words with no piece (empty after normalisation) are O; the rest are decoded together so the BIO
            // constraints hold across them.
            var words = new List<int>();
            var rows = new List<float>();
            var seen = new bool[sentences[s].Count];
            for (var p = 0; p < tokens.Count; p++)
            {
                var word = tokens[p].Word;
                if (seen[word])
                {
                    continue;
                }

                seen[word] = true;
                var window = TokenWindows.BestWindowFor(p, windows);
                var probabilities = work[firstWork + window].TagProbabilities!;
                rows.AddRange(probabilities.AsSpan((p - windows[window].Start + 1) * labels.Count, labels.Count));
                words.Add(word);
            }

            var best = new int[words.Count];
            viterbi.Decode(CollectionsMarshal.AsSpan(rows), best);
            var tags = new string[sentences[s].Count];
            Array.Fill(tags, "O");
            for (var i = 0; i < words.Count; i++)
            {
                tags[words[i]] = labels[best[i]];
            }

            result[s] = tags;
        }

        return result;
    }

    private int[] WithSpecials(List<Token> tokens, (int Start, int Count) window) =>
        TokenWindows.Ids(tokens, window.Start, window.Count, _models.Tokenizer);

    /// <summary>Runs sequences through the model set in batches sorted by encoder and length, cut at the token budget.</summary>
    public void RunAll(IReadOnlyList<SequenceWork> work, CancellationToken cancellationToken = default)
    {
        var order = work.OrderBy(w => w.EncoderIndex).ThenBy(w => w.Ids.Length).ToList();
        var batch = new List<SequenceWork>();
        var done = 0;
        foreach (var item in order)
        {
            if (batch.Count > 0 && ((batch.Count + 1) * item.Ids.Length > _batchTokens || batch[0].EncoderIndex != item.EncoderIndex))
            {
                cancellationToken.ThrowIfCancellationRequested();
                _models.Run(batch);
                done += batch.Count;
                Progress?.Invoke(done, work.Count);
                batch.Clear();
            }

            batch.Add(item);
        }

        if (batch.Count > 0)
        {
            _models.Run(batch);
            Progress?.Invoke(work.Count, work.Count);
        }
    }
}
