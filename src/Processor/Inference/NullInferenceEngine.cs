using StreamBert.Contracts;
using StreamBert.Engine.Inference;

namespace StreamBert.Processor.Inference;

/// <summary>
/// An engine that runs no model (<c>Processor:Engine=null</c>): it gives every sequence fixed outputs of the shapes
/// the served heads give — a spam score, a claim score, NER tag probabilities for every position — with the heads'
/// model versions and thresholds, so postprocessing, serialisation and egress do their real work. It measures what
/// the pipeline around the engine can carry (<c>streambert bench --engine null</c>); never serve with it.
/// The outputs vary with the sequence (its length and first ids) so both labels and a few entities occur, and they
/// are a pure function of the sequence, so a re-processed input gets the same output.
/// </summary>
public sealed class NullInferenceEngine : IInferenceEngine
{
    /// <summary>Probability given to the chosen tag of a position; the rest is spread evenly over the others.</summary>
    private const float ChosenTag = 0.92f;

    public static NullInferenceEngine Instance { get; } = new();

    public int Run(ModelSet models, IReadOnlyList<SequenceWork> batch)
    {
        ArgumentNullException.ThrowIfNull(models);
        return Fill(batch, models.Head(TaskNames.Spam), models.Head(TaskNames.Claims), models.Head(TaskNames.Ner));
    }

    /// <summary>Gives each sequence the fixed outputs of the heads it names; returns the positions it "ran".</summary>
    public static int Fill(IReadOnlyList<SequenceWork> batch, TaskHead? spam, TaskHead? claims, TaskHead? ner)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var positions = 0;
        for (var i = 0; i < batch.Count; i++)
        {
            var work = batch[i];
            var ids = work.Ids;
            positions += ids.Length;
            var hash = 17;
            foreach (var id in ids)
            {
                hash = unchecked((hash * 31) + id);
            }

            var odd = ((hash >> 4) & 1) == 1;
            if ((work.Tasks & TaskSet.Spam) != 0 && spam is not null)
            {
                work.SpamScore = Score(spam, odd);
                work.SpamMargin = Logit(work.SpamScore);
                work.SpamThreshold = spam.Threshold;
                work.SpamModel = spam.Model;
            }

            if ((work.Tasks & TaskSet.Claims) != 0 && claims is not null)
            {
                work.ClaimScore = Score(claims, odd);
                work.ClaimMargin = Logit(work.ClaimScore);
                work.ClaimThreshold = claims.Threshold;
                work.ClaimsModel = claims.Model;
            }

            if ((work.Tasks & TaskSet.Ner) != 0 && ner is not null)
            {
                work.TagProbabilities = TagProbabilities(ids, ner.Spec.Labels.Count);
                work.EntitiesModel = ner.Model;
            }
        }

        return positions;
    }

    /// <summary>Halfway between the head's served threshold and 1 (positive) or 0 (negative), so each label occurs whatever the operating point.</summary>
    private static float Score(TaskHead head, bool positive) =>
        (float)(positive ? head.Threshold + ((1 - head.Threshold) / 2) : head.Threshold / 2);

    private static float Logit(float probability) => MathF.Log(probability / (1 - probability));

    /// <summary>
    /// [Ids.Length, tags] probabilities: "O" mostly, and a two-piece entity (B-, then I- of one type) starting at every
    /// seventh position, so BIO decoding and span building have entities to find.
    /// </summary>
    private static float[] TagProbabilities(int[] ids, int tags)
    {
        var probabilities = new float[ids.Length * tags];
        var rest = (1f - ChosenTag) / Math.Max(1, tags - 1);
        for (var position = 1; position < ids.Length - 1; position++)
        {
            var chosen = 0;
            if (tags >= 3)
            {
                var entityTypes = (tags - 1) / 2;
                var type = (position / 7) % entityTypes;
                chosen = (position % 7) switch
                {
                    3 => 1 + (2 * type),
                    4 => 2 + (2 * type),
                    _ => 0,
                };
            }

            var row = probabilities.AsSpan(position * tags, tags);
            row.Fill(rest);
            row[chosen] = ChosenTag;
        }

        return probabilities;
    }
}
