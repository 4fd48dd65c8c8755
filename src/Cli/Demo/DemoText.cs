using System.Globalization;
using StreamBert.Trainer;

namespace StreamBert.Cli.Demo;

/// <summary>Formatting shared by the dashboard, the plain lines and the summary.</summary>
internal static class DemoText
{
    /// <summary><c>held-out labels (n 64) F1 0.800 → 0.889</c> per evaluation set.</summary>
    public static string Scores(TrainingOutcome outcome) =>
        outcome.Scores.Count == 0
            ? "no evaluation set"
            : string.Join("; ", outcome.Scores.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Set} (n {s.N}) F1 {s.Current:F3} → {s.Candidate:F3}")));

    public static string Clock(TimeSpan at) => at.ToString(at.TotalHours >= 1 ? @"h\:mm\:ss" : @"mm\:ss", CultureInfo.InvariantCulture);

    public static string Percent(double share) => double.IsNaN(share) ? "–" : share.ToString("P1", CultureInfo.InvariantCulture);

    public static string Shorten(string text, int length) => text.Length > length ? text[..length] + "…" : text;
}
