using System.Globalization;
using StreamBert.Contracts;

namespace StreamBert.Review.Spam;

/// <summary>
/// Which of a window of scored texts a reviewer would label next, chosen by the desk's own queue (<see cref="SpamQueue"/>):
/// uncertainty-first (smallest |score − threshold|, ties in arrival order) or a seeded random sample. Lets offline
/// measurements (the active-learning scenario) pick exactly what the desk would show, without Kafka.
/// </summary>
public static class ReviewSelection
{
    /// <summary>
    /// Indices into <paramref name="scores"/> (calibrated spam scores in arrival order) of the first <paramref name="count"/>
    /// items in <paramref name="mode"/>'s order.
    /// </summary>
    public static IReadOnlyList<int> Pick(IReadOnlyList<double> scores, double threshold, int count, QueueMode mode, int seed)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (scores.Count == 0 || count == 0)
        {
            return [];
        }

        // The whole window fits, so the queue drops nothing and only its ordering decides.
        var queue = new SpamQueue(scores.Count, threshold);
        var model = new ModelRef("offline", "offline");
        for (var i = 0; i < scores.Count; i++)
        {
            var id = i.ToString(CultureInfo.InvariantCulture);
            queue.AddInput(new MessageView(id, null, null, "", ""));
            queue.AddOutput(new SpamLabel(id, scores[i] >= threshold ? LabelSets.Spam : LabelSets.Ham, (float)scores[i], model));
        }

        return [.. queue.Take(mode, count, seed).Select(item => int.Parse(item.Id, CultureInfo.InvariantCulture))];
    }
}
