using System.Text;
using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Engine.Decoding;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Tokenization;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Preprocess;

namespace StreamBert.Processor.Postprocess;

/// <summary>
/// Reassembles a document's sequences into output records: a message's windows into one spam verdict
/// (maximum window score: one spammy page makes a spam message), an article's sentences into the
/// claims record and its NER tags into entity spans with character offsets into the body.
/// </summary>
public sealed class Postprocessor
{
    // Built once: its transition table depends only on the tag set, and Decode keeps no state between calls.
    private static readonly BioViterbi NerDecoder = new(LabelSets.NerTags);

    private readonly ProcessorOptions _options;
    private readonly TopicNames _topics;
    private readonly DeadLetters _deadLetters;

    public Postprocessor(ProcessorOptions options, TopicNames topics, DeadLetters deadLetters)
    {
        _options = options;
        _topics = topics;
        _deadLetters = deadLetters;
    }

    /// <summary>
    /// The outputs of a labelled document, or its dead letter when any of them would be larger than the producer takes.
    /// Every output of the set is checked before any is produced, so a document is never half-published for size.
    /// </summary>
    public OutputSet Build(Document document)
    {
        ArgumentNullException.ThrowIfNull(document);
        var set = document.Kind switch
        {
            DocumentKind.Message => BuildMessage(document),
            DocumentKind.Article => BuildArticle(document),
            _ => throw new InvalidOperationException($"Unknown document kind {document.Kind}."),
        };

        string? tooLarge = null;
        foreach (var record in set.Records)
        {
            var size = DeadLetters.Size(record.Key, record.Value, null);
            if (size > _deadLetters.Budget)
            {
                tooLarge = (tooLarge is null ? "" : tooLarge + ", ") + $"{record.Topic} {size} bytes";
            }
        }

        return tooLarge is null
            ? set
            : new OutputSet(document.Record, [_deadLetters.For(document.Record, $"output too large for the producer's message.max.bytes {_deadLetters.MaxMessageBytes} (less {DeadLetters.ReserveBytes} reserved): {tooLarge}")], document.Id);
    }

    public OutputSet DeadLetter(Rejected rejected)
    {
        ArgumentNullException.ThrowIfNull(rejected);
        return new OutputSet(rejected.Record, [_deadLetters.For(rejected.Record, rejected.Reason)], null);
    }

    private OutputSet BuildMessage(Document document)
    {
        var score = 0f;
        ModelRef? model = null;
        var threshold = TaskHead.DefaultThreshold;
        foreach (var work in document.Sequences)
        {
            score = Math.Max(score, work.SpamScore);
            if (model is null)
            {
                // A document is pinned to one version, so its first sequence's threshold is every sequence's.
                model = work.SpamModel;
                threshold = work.SpamThreshold;
            }
        }

        var label = new SpamLabel(
            document.Id,
            score >= (_options.SpamThreshold ?? threshold) ? LabelSets.Spam : LabelSets.Ham,
            score,
            model ?? throw new InvalidOperationException("A scored message has no model."));
        var value = JsonSerializer.SerializeToUtf8Bytes(label, OutputJson.Options);
        return new OutputSet(document.Record, [new OutputRecord(_topics.MessagesSpam, Encoding.UTF8.GetBytes(document.Id), value)], document.Id);
    }

    private OutputSet BuildArticle(Document document)
    {
        var text = document.Text;
        var sentences = new List<SentenceLabel>(document.Sentences.Count);
        var entities = new List<EntitySpan>();
        ModelRef? claimsModel = null;
        ModelRef? entitiesModel = null;
        var wordSpans = new List<WordSpan>();
        var sequence = 0;
        for (var s = 0; s < document.Sentences.Count; s++)
        {
            // Sequences were added sentence by sentence, windows in order.
            var first = sequence;
            while (sequence < document.Pieces.Count && document.Pieces[sequence].Sentence == s)
            {
                sequence++;
            }

            var claimScore = 0f;
            var claimThreshold = TaskHead.DefaultThreshold;
            for (var q = first; q < sequence; q++)
            {
                claimScore = Math.Max(claimScore, document.Sequences[q].ClaimScore);
                claimThreshold = document.Sequences[q].ClaimThreshold;
                claimsModel ??= document.Sequences[q].ClaimsModel;
                entitiesModel ??= document.Sequences[q].EntitiesModel;
            }

            var (start, length) = document.Sentences[s].GetOffsetAndLength(text.Length);
            sentences.Add(new SentenceLabel(
                start,
                start + length,
                text.Substring(start, length),
                claimScore >= (_options.ClaimThreshold ?? claimThreshold) ? LabelSets.Claim : LabelSets.NoClaim,
                claimScore));
            if (sequence > first)
            {
                DecodeEntities(document, first, sequence, wordSpans, entities);
            }
        }

        var key = Encoding.UTF8.GetBytes(document.Id);
        var claims = JsonSerializer.SerializeToUtf8Bytes(
            new ClaimsOutput(document.Id, claimsModel ?? throw new InvalidOperationException("A scored article has no claims model."), sentences),
            OutputJson.Options);
        var spans = JsonSerializer.SerializeToUtf8Bytes(
            new EntitiesOutput(document.Id, entitiesModel ?? throw new InvalidOperationException("A scored article has no NER model."), entities),
            OutputJson.Options);
        return new OutputSet(document.Record, [new OutputRecord(_topics.ArticlesClaims, key, claims), new OutputRecord(_topics.ArticlesEntities, key, spans)], document.Id);
    }

    /// <summary>
    /// First-subword labelling: a word's tag is the argmax at its first piece, read from the window where
    /// that piece had the most context.
    /// </summary>
    private static void DecodeEntities(Document document, int firstSequence, int endSequence, List<WordSpan> wordSpans, List<EntitySpan> entities)
    {
        var pieces = document.Pieces[firstSequence];
        var tokens = pieces.Tokens;
        var windows = new List<(int Start, int Count)>(endSequence - firstSequence);
        for (var q = firstSequence; q < endSequence; q++)
        {
            windows.Add((document.Pieces[q].Start, document.Pieces[q].Count));
        }

        var wordFirstPiece = new List<int>();
        var lastWord = int.MinValue;
        for (var i = 0; i < tokens.Count; i++)
        {
            if (tokens[i].Word != lastWord)
            {
                wordFirstPiece.Add(i);
                lastWord = tokens[i].Word;
            }
        }

        var labels = LabelSets.NerTags;
        var tagCount = labels.Count;
        var rows = new float[wordFirstPiece.Count * tagCount];
        for (var w = 0; w < wordFirstPiece.Count; w++)
        {
            var piece = wordFirstPiece[w];
            var window = TokenWindows.BestWindowFor(piece, windows);
            var work = document.Sequences[firstSequence + window];
            var position = piece - windows[window].Start + 1;
            work.TagProbabilities.AsSpan(position * tagCount, tagCount).CopyTo(rows.AsSpan(w * tagCount));
        }

        var tags = new int[wordFirstPiece.Count];
        NerDecoder.Decode(rows, tags);
        var probabilities = new float[tags.Length];
        for (var w = 0; w < tags.Length; w++)
        {
            probabilities[w] = rows[(w * tagCount) + tags[w]];
        }

        wordSpans.Clear();
        BioDecoder.Decode(tags, probabilities, labels, wordSpans);
        var text = document.Text;
        foreach (var span in wordSpans)
        {
            var start = tokens[wordFirstPiece[span.StartWord]].Start;
            var lastPiece = span.EndWord < wordFirstPiece.Count ? wordFirstPiece[span.EndWord] - 1 : tokens.Count - 1;
            var end = tokens[lastPiece].End;
            entities.Add(new EntitySpan(start, end, text[start..end], span.Type, span.Score));
        }
    }
}
