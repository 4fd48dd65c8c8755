using System.Text;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Text;
using StreamBert.Engine.Tokenization;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Ingest;
using StreamBert.Service.Inputs;

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

    // The targets of the model set seen last: a hot swap changes the set, and with it the targets, rarely.
    private (ModelSet Models, PreprocessTargets Targets)? _lastTargets;

    public Preprocessor(ProcessorOptions options, TopicNames topics)
    {
        _options = options;
        _topics = topics;
    }

    public PreprocessResult Process(InputRecord record, ModelSet models)
    {
        ArgumentNullException.ThrowIfNull(models);
        var last = _lastTargets;
        PreprocessTargets targets;
        if (last is { } known && ReferenceEquals(known.Models, models))
        {
            targets = known.Targets;
        }
        else
        {
            targets = PreprocessTargets.Of(models);
            _lastTargets = (models, targets);
        }

        return Process(record, targets);
    }

    /// <summary>
    /// The same as <see cref="Process(InputRecord, ModelSet)"/> with only what preprocessing reads from the models, so the
    /// parsers and the caps can be exercised with a vocabulary alone (the fuzz tests do).
    /// </summary>
    public PreprocessResult Process(InputRecord record, PreprocessTargets models)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(models);
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

    private PreprocessResult ProcessMessage(InputRecord record, PreprocessTargets models)
    {
        if (models.Spam is not { } head)
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
            AddSequence(document, models.Tokenizer, tokens, windows[w], sentence: 0, w, used, TaskSet.Spam, head.EncoderIndex);
        }

        document.Seal();
        return new Accepted(record, document);
    }

    private PreprocessResult ProcessArticle(InputRecord record, PreprocessTargets models)
    {
        if (models.Claims is not { } claims || models.Ner is not { } ner)
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

        // Caps before encoder work: each sentence is at least one sequence and one entry of the claims record, so one
        // crafted body ("a. A. A. …") would otherwise hold the engine for minutes and make an output no broker takes.
        if (document.Sentences.Count > _options.MaxSentencesPerArticle)
        {
            return new Rejected(record, $"article has {document.Sentences.Count} sentences, over MaxSentencesPerArticle {_options.MaxSentencesPerArticle}");
        }

        // Both heads read every window, so it fits the shorter of their bundles' lengths.
        var maxLength = Math.Min(claims.MaxSequenceLength, ner.MaxSequenceLength);
        var windows = new List<(int Start, int Count)>();
        var windowTotal = 0;
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
            TokenWindows.Plan(tokens.Count, maxLength, _options.WindowOverlap, windows);
            windowTotal += windows.Count;
            if (windowTotal > _options.MaxWindowsPerArticle)
            {
                return new Rejected(record, $"article needs more than MaxWindowsPerArticle {_options.MaxWindowsPerArticle} encoder windows ({windowTotal} for its first {s + 1} of {document.Sentences.Count} sentences)");
            }

            for (var w = 0; w < windows.Count; w++)
            {
                AddSequence(document, models.Tokenizer, tokens, windows[w], s, w, windows.Count, TaskSet.Claims | TaskSet.Ner, claims.EncoderIndex, WordShape.ForSequence(document.Text, tokens, windows[w].Start, windows[w].Count));
            }
        }

        if (document.Sequences.Count == 0)
        {
            return new Rejected(record, "body has no sentences");
        }

        document.Seal();
        return new Accepted(record, document);
    }

    private static void AddSequence(Document document, WordPieceTokenizer tokenizer, List<Token> tokens, (int Start, int Count) window, int sentence, int index, int count, TaskSet tasks, int encoderIndex, float[]? shapes = null)
    {
        var ids = TokenWindows.Ids(tokens, window.Start, window.Count, tokenizer);
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

/// <summary>What preprocessing reads from the served models: the tokenizer and, per task, where its sequences run.</summary>
public sealed record PreprocessTargets(WordPieceTokenizer Tokenizer, SequenceTarget? Spam, SequenceTarget? Claims, SequenceTarget? Ner)
{
    public static PreprocessTargets Of(ModelSet models)
    {
        ArgumentNullException.ThrowIfNull(models);
        return new(models.Tokenizer, Target(models.Head(TaskNames.Spam)), Target(models.Head(TaskNames.Claims)), Target(models.Head(TaskNames.Ner)));
    }

    private static SequenceTarget? Target(TaskHead? head) =>
        head is null ? null : new SequenceTarget(head.MaxSequenceLength, head.EncoderIndex);
}

/// <summary>The longest sequence (with [CLS] and [SEP]) a task's bundle takes, and the encoder of the model set it runs on.</summary>
public readonly record struct SequenceTarget(int MaxSequenceLength, int EncoderIndex);

/// <summary>A record turned into a document ready for the engine.</summary>
public sealed record Accepted(InputRecord Record, Document Document) : PreprocessResult(Record);
