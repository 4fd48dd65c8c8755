namespace StreamBert.Training.Data;

/// <summary>A text with its gold label, as read from a labelled data set or a labels topic.</summary>
/// <param name="Text">The raw text, unchanged (no trimming or normalisation).</param>
/// <param name="Label">The label, normalised to the lowercase names in <c>StreamBert.Contracts.LabelSets</c>.</param>
public sealed record LabeledText(string Text, string Label);
