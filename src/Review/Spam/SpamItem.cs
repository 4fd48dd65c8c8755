namespace StreamBert.Review.Spam;

/// <summary>A message as a reviewer sees it: what the email said, and what the model said about it.</summary>
/// <param name="Id">The message id that links the output on <c>messages.spam</c> to its input.</param>
/// <param name="Body">The body as sent (an HTML body stays HTML source, shown as text).</param>
/// <param name="ModelText">The text the model classified (subject and body as the processor parses them): what the label is for.</param>
/// <param name="Arrival">Order of arrival in the window, for stable ordering and sampling.</param>
public sealed record SpamItem(
    string Id,
    string? Subject,
    string? From,
    string Body,
    string ModelText,
    string Verdict,
    float Score,
    string ModelName,
    string ModelVersion,
    long Arrival);

/// <summary>The fields of an input message the desk shows and labels.</summary>
public sealed record MessageView(string Id, string? Subject, string? From, string Body, string ModelText);
