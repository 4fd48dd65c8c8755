using System.Text.Json.Serialization;

namespace StreamBert.Contracts;

/// <summary>Label sets of the tasks. Index order is the order of the model's output logits.</summary>
public static class LabelSets
{
    public const string Spam = "spam";
    public const string Ham = "ham";
    public const string Claim = "claim";
    public const string NoClaim = "no-claim";

    /// <summary>Spam head outputs: index 0 ham, index 1 spam.</summary>
    public static readonly IReadOnlyList<string> SpamLabels = [Ham, Spam];

    /// <summary>Claim head outputs: index 0 no-claim, index 1 claim.</summary>
    public static readonly IReadOnlyList<string> ClaimLabels = [NoClaim, Claim];

    /// <summary>Entity types the NER head tags.</summary>
    public static readonly IReadOnlyList<string> EntityTypes = ["PER", "ORG", "LOC", "MISC"];

    /// <summary>BIO tags of the NER head, in logit order.</summary>
    public static readonly IReadOnlyList<string> NerTags =
        ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"];
}

/// <summary>Tasks a model bundle can serve.</summary>
public static class TaskNames
{
    public const string Spam = "spam";
    public const string Claims = "claims";
    public const string Ner = "ner";
}

/// <summary>
/// A reviewer's label for one text on <c>labels.spam</c> or <c>labels.claims</c>, keyed by the item id: the text the
/// model saw and the label it should have given. The shape the training service parses (<c>{"text","label"}</c>).
/// </summary>
public sealed record TextLabel(
    [property: JsonPropertyName("text")] string Text,
    [property: JsonPropertyName("label")] string Label);

/// <summary>
/// A reviewer's entities for one text on <c>labels.entities</c>: every entity of the text (an empty list says it has
/// none), offsets as in <see cref="EntitySpan"/> but into <see cref="Text"/>. The shape the training service parses
/// (<c>{"text","entities":[{"start","end","type"}]}</c>); spans must not overlap or split a surrogate pair.
/// </summary>
public sealed record EntitiesLabel(
    [property: JsonPropertyName("text")] string Text,
    [property: JsonPropertyName("entities")] IReadOnlyList<EntityLabel> Entities);

/// <summary>One entity of an <see cref="EntitiesLabel"/>: UTF-16 offsets into its text, end exclusive, and a type of <see cref="LabelSets.EntityTypes"/>.</summary>
public sealed record EntityLabel(
    [property: JsonPropertyName("start")] int Start,
    [property: JsonPropertyName("end")] int End,
    [property: JsonPropertyName("type")] string Type);

/// <summary>Kafka headers a reviewer's label carries, so the training service can weigh and audit labels.</summary>
public static class LabelHeaders
{
    /// <summary>Who gave the label (UTF-8 text, as the reviewer typed it).</summary>
    public const string Reviewer = "reviewer";

    /// <summary>The model version whose output the label confirms or corrects (UTF-8, e.g. <c>v3</c>).</summary>
    public const string ModelVersion = "model-version";
}
