using System.Text;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Text;
using StreamBert.Engine.Tokenization;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Ingest;

namespace StreamBert.Processor.Preprocess;

/// <summary>
/// Parses a record, validates it, and cuts it into encoder sequences: a message into windows of at most
/// the model's maximum length, an article into sentences (each one sequence for both the claim and the
/// NER head, windowed only when a sentence is longer than the maximum).
/// </summary>
public sealed class Preprocessor
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private readonly ProcessorOptions _options;
    private readonly TopicNames _topics;

    public Preprocessor(ProcessorOptions options, TopicNames topics)
    {
        _options = options;
        _topics = topics;
    }

    public PreprocessResult Process(InputRecord record, ModelSet models)
    {
        var topic = record.Position.Topic;
        if (topic == _topics.Messages)
        {
            return ProcessMessage(record, models);
        }

        if (topic == _topics.Articles)
        {
            return ProcessArticle(record, models);
        }

        return new Rejected(record, $"no handler for topic {topic}");
    }

    private PreprocessResult ProcessMessage(InputRecord record, ModelSet models)
    {
        var head = models.Head(TaskNames.Spam);
        if (head is null)
        {
            return new Rejected(record, "no spam model is loaded");
        }

        var parsed = InputParsers.ParseMessage(record.Value ?? [], KeyText(record), _options.MaxInputBytes);
        if (parsed.Error is not null)
        {
            return new Rejected(record, parsed.Error);
        }

        var document = new Document(record, DocumentKind.Message, parsed.Id!, parsed.Text!);
        var tokens = new List<Token>();
        models.Tokenizer.Tokenize(document.Text, tokens);
        var windows = new List<(int Start, int Count)>();
        TokenWindows.Plan(tokens.Count, head.MaxSequenceLength, _options.WindowOverlap, windows);
        var used = Math.Min(windows.Count, _options.MaxWindowsPerMessage);
        for (var w = 0; w < used; w++)
        {
            AddSequence(document, models, tokens, windows[w], sentence: 0, w, used, TaskSet.Spam, head.EncoderIndex);
        }

        document.Seal();
        return new Accepted(record, document);
    }

    private PreprocessResult ProcessArticle(InputRecord record, ModelSet models)
    {
        var claims = models.Head(TaskNames.Claims);
        var ner = models.Head(TaskNames.Ner);
        if (claims is null || ner is null)
        {
            return new Rejected(record, "no articles model (claims and NER heads) is loaded");
        }

        var parsed = InputParsers.ParseArticle(record.Value ?? [], _options.MaxInputBytes);
        if (parsed.Error is not null)
        {
            return new Rejected(record, parsed.Error);
        }

        var document = new Document(record, DocumentKind.Article, parsed.Id!, parsed.Text!);
        SentenceSplitter.Split(document.Text, document.Sentences);
        var windows = new List<(int Start, int Count)>();
        for (var s = 0; s < document.Sentences.Count; s++)
        {
            var (start, length) = document.Sentences[s].GetOffsetAndLength(document.Text.Length);
            var tokens = new List<Token>();
            models.Tokenizer.Tokenize(document.Text.AsSpan(start, length), tokens);
            for (var i = 0; i < tokens.Count; i++)
            {
                var t = tokens[i];
                tokens[i] = t with { Start = t.Start + start, End = t.End + start };
            }

            windows.Clear();
            // Both heads read every window, so it fits the shorter of their bundles' lengths.
            TokenWindows.Plan(tokens.Count, Math.Min(claims.MaxSequenceLength, ner.MaxSequenceLength), _options.WindowOverlap, windows);
            for (var w = 0; w < windows.Count; w++)
            {
                AddSequence(document, models, tokens, windows[w], s, w, windows.Count, TaskSet.Claims | TaskSet.Ner, claims.EncoderIndex, WordShape.ForSequence(document.Text, tokens, windows[w].Start, windows[w].Count));
            }
        }

        if (document.Sequences.Count == 0)
        {
            return new Rejected(record, "body has no sentences");
        }

        document.Seal();
        return new Accepted(record, document);
    }

    private static void AddSequence(Document document, ModelSet models, List<Token> tokens, (int Start, int Count) window, int sentence, int index, int count, TaskSet tasks, int encoderIndex, float[]? shapes = null)
    {
        var ids = TokenWindows.Ids(tokens, window.Start, window.Count, models.Tokenizer);
        var owner = new SequenceOwner(document, document.Sequences.Count);
        document.Sequences.Add(new SequenceWork { Ids = ids, Tasks = tasks, EncoderIndex = encoderIndex, State = owner, WordShapes = shapes });
        document.Pieces.Add(new SequencePieces(sentence, tokens, window.Start, window.Count, index, count));
    }

    private static string? KeyText(InputRecord record)
    {
        if (record.Key is not { Length: > 0 } key)
        {
            return null;
        }

        try
        {
            return StrictUtf8.GetString(key);
        }
        catch (DecoderFallbackException)
        {
            return Convert.ToHexStringLower(key);
        }
    }
}

/// <summary>A record turned into a document ready for the engine.</summary>
public sealed record Accepted(InputRecord Record, Document Document) : PreprocessResult(Record);
