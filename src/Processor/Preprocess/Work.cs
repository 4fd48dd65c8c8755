using StreamBert.Engine.Inference;
using StreamBert.Engine.Tokenization;
using StreamBert.Processor.Ingest;

namespace StreamBert.Processor.Preprocess;

/// <summary>What Preprocess makes of a record: a document to label, or a rejection with its reason.</summary>
public abstract record PreprocessResult(InputRecord Record);

/// <summary>An input that cannot be processed; it goes to the dead-letter topic with <see cref="Reason"/>.</summary>
public sealed record Rejected(InputRecord Record, string Reason) : PreprocessResult(Record);

/// <summary>
/// A parsed input split into encoder sequences (windows of a message, sentences of an article).
/// Sequences finish on the engine thread in any order; the last one to finish hands the document on.
/// </summary>
public sealed class Document
{
    private int _remaining;

    public Document(InputRecord record, DocumentKind kind, string id, string text)
    {
        Record = record;
        Kind = kind;
        Id = id;
        Text = text;
    }

    public InputRecord Record { get; }
    public DocumentKind Kind { get; }
    public string Id { get; }

    /// <summary>The text the model reads; for articles, the body that offsets index.</summary>
    public string Text { get; }

    public List<SequenceWork> Sequences { get; } = [];

    /// <summary>Articles: sentence spans in <see cref="Text"/> (UTF-16, end exclusive).</summary>
    public List<Range> Sentences { get; } = [];

    /// <summary>Per sequence: the word pieces it covers (offsets into <see cref="Text"/>).</summary>
    public List<SequencePieces> Pieces { get; } = [];

    /// <summary>
    /// The engine's hold on the model set this document's first sequence ran on; set and cleared on the
    /// engine thread only.
    /// </summary>
    public Inference.ModelSlot.Lease? Pin { get; set; }

    public void Seal() => _remaining = Sequences.Count;

    /// <summary>True for the call that completes the last sequence.</summary>
    public bool CompleteOne() => Interlocked.Decrement(ref _remaining) == 0;
}

public enum DocumentKind
{
    Message,
    Article,
}

/// <summary>
/// The word pieces of one encoder sequence: <see cref="Tokens"/> of sentence <see cref="Sentence"/>
/// from index <see cref="Start"/>, <see cref="Count"/> of them (a window when the sentence is too long).
/// </summary>
public sealed record SequencePieces(int Sentence, List<Token> Tokens, int Start, int Count, int Window, int WindowCount);

/// <summary>Routes an engine result back to its document.</summary>
public sealed record SequenceOwner(Document Document, int Index);
