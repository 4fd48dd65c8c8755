using StreamBert.Training.Evaluation;

namespace StreamBert.Training.Tests.Evaluation;

public class ConllEvalTests
{
    private static string[] T(string tags) => tags.Split(' ');

    [Fact]
    public void ExtractChunks_IAfterO_StartsAChunk()
    {
        Assert.Equal([new Chunk("PER", 1, 3)], ConllEval.ExtractChunks(T("O I-PER I-PER O")));
        Assert.Equal([new Chunk("LOC", 0, 1)], ConllEval.ExtractChunks(T("I-LOC O")));
    }

    [Fact]
    public void ExtractChunks_TypeChangeInsideIRun_EndsOneChunkAndStartsAnother()
    {
        Assert.Equal(
            [new Chunk("PER", 0, 2), new Chunk("LOC", 2, 4)],
            ConllEval.ExtractChunks(T("B-PER I-PER I-LOC I-LOC")));
        Assert.Equal([new Chunk("PER", 0, 1), new Chunk("LOC", 1, 2)], ConllEval.ExtractChunks(T("B-PER I-LOC")));
    }

    [Fact]
    public void ExtractChunks_BAfterSameType_StartsANewChunk()
    {
        Assert.Equal(
            [new Chunk("ORG", 0, 2), new Chunk("ORG", 2, 3), new Chunk("ORG", 3, 4)],
            ConllEval.ExtractChunks(T("B-ORG I-ORG B-ORG B-ORG")));
    }

    [Fact]
    public void ExtractChunks_ChunkAtSentenceEnd_IsClosed()
    {
        Assert.Equal([new Chunk("MISC", 2, 4)], ConllEval.ExtractChunks(T("O O B-MISC I-MISC")));
        Assert.Empty(ConllEval.ExtractChunks([]));
    }

    [Fact]
    public void Evaluate_TwoSentences_MatchesHandComputedScores()
    {
        var result = ConllEval.Evaluate(
        [
            (T("B-PER I-PER O B-LOC O"), T("B-PER I-PER O B-ORG O")),        // PER right; LOC missed; ORG spurious
            (T("B-ORG I-ORG I-ORG O B-MISC"), T("B-ORG I-ORG O O B-MISC")), // ORG boundary wrong; MISC right
        ]);

        Assert.Equal(new EntityScores(Gold: 4, Predicted: 4, Correct: 2), result.Overall);
        Assert.Equal((0.5, 0.5, 0.5), (result.Overall.Precision, result.Overall.Recall, result.Overall.F1));
        Assert.Equal(["LOC", "MISC", "ORG", "PER"], result.PerType.Keys);
        Assert.Equal(new EntityScores(1, 1, 1), result.PerType["PER"]);
        Assert.Equal(new EntityScores(1, 0, 0), result.PerType["LOC"]);
        Assert.Equal(new EntityScores(1, 2, 0), result.PerType["ORG"]);
        Assert.Equal(new EntityScores(1, 1, 1), result.PerType["MISC"]);
        Assert.Equal(0.0, result.PerType["LOC"].F1);
        Assert.Equal((10, 8, 0.8), (result.Tokens, result.CorrectTags, result.TokenAccuracy));
    }

    [Fact]
    public void Evaluate_IobVariantsOfTheSameEntities_AreAllCorrect()
    {
        // conlleval reads "O I-PER I-PER" as the same PER entity as "O B-PER I-PER": it is counted correct.
        var result = ConllEval.Evaluate([(T("O B-PER I-PER"), T("O I-PER I-PER"))]);

        Assert.Equal(new EntityScores(1, 1, 1), result.Overall);
        Assert.Equal(2, result.CorrectTags);
    }

    [Fact]
    public void Evaluate_TypeChangeInsideIRun_CountsTwoPredictedEntitiesAndNoneCorrect()
    {
        var result = ConllEval.Evaluate([(T("B-PER I-PER"), T("B-PER I-LOC"))]);

        Assert.Equal(new EntityScores(Gold: 1, Predicted: 2, Correct: 0), result.Overall);
    }

    [Fact]
    public void Evaluate_NoEntities_ScoresZeroWithoutDividingByZero()
    {
        var result = ConllEval.Evaluate([(T("O O"), T("O O"))]);

        Assert.Equal((0.0, 0.0, 0.0, 1.0), (result.Overall.Precision, result.Overall.Recall, result.Overall.F1, result.TokenAccuracy));
    }

    [Fact]
    public void Evaluate_RandomTagSequences_AgreesWithConllevalStateMachine()
    {
        // A line-by-line port of conlleval.pl's main loop (the inCorrect state machine), run on random and often
        // ill-formed BIO sequences, must count exactly what the chunk-set implementation counts.
        var random = new Random(7);
        string[] vocabulary = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"];
        var sentences = new List<(IReadOnlyList<string>, IReadOnlyList<string>)>();
        for (int s = 0; s < 3000; s++)
        {
            int length = random.Next(0, 12);
            var gold = new string[length];
            var predicted = new string[length];
            for (int i = 0; i < length; i++)
            {
                gold[i] = vocabulary[random.Next(vocabulary.Length)];
                predicted[i] = random.Next(3) == 0 ? vocabulary[random.Next(vocabulary.Length)] : gold[i];
            }

            sentences.Add((gold, predicted));
        }

        var result = ConllEval.Evaluate(sentences);
        var reference = ConllevalPort.Run(sentences);

        Assert.Equal(reference.Overall, (result.Overall.Gold, result.Overall.Predicted, result.Overall.Correct));
        Assert.Equal(reference.CorrectTags, result.CorrectTags);
        foreach (var (type, counts) in reference.PerType)
        {
            Assert.Equal(counts, (result.PerType[type].Gold, result.PerType[type].Predicted, result.PerType[type].Correct));
        }

        Assert.True(result.Overall.Correct > 1000, "the random data should contain many correct entities");
        Assert.True(result.Overall.Correct < result.Overall.Predicted, "and many wrong ones");
    }

    /// <summary>conlleval.pl (2004-01-26) main loop, transcribed; sentences are separated by a boundary line.</summary>
    private static class ConllevalPort
    {
        public static ((int, int, int) Overall, Dictionary<string, (int, int, int)> PerType, int CorrectTags) Run(
            IEnumerable<(IReadOnlyList<string> Gold, IReadOnlyList<string> Predicted)> sentences)
        {
            var lines = new List<(string Correct, string Guessed, bool Boundary)>();
            foreach (var (gold, predicted) in sentences)
            {
                for (int i = 0; i < gold.Count; i++)
                {
                    lines.Add((gold[i], predicted[i], false));
                }

                lines.Add(("O", "O", true));
            }

            int correctChunk = 0, foundCorrect = 0, foundGuessed = 0, correctTags = 0;
            var perType = new Dictionary<string, (int Gold, int Found, int Correct)>();
            bool inCorrect = false;
            string lastCorrect = "O", lastGuessed = "O", lastCorrectType = "", lastGuessedType = "";
            foreach (var (correctTag, guessedTag, boundary) in lines)
            {
                var (guessed, guessedType) = Split(guessedTag);
                var (correct, correctType) = Split(correctTag);
                if (boundary)
                {
                    guessed = "O";
                }

                if (inCorrect)
                {
                    if (End(lastCorrect, correct, lastCorrectType, correctType) && End(lastGuessed, guessed, lastGuessedType, guessedType)
                        && lastGuessedType == lastCorrectType)
                    {
                        inCorrect = false;
                        correctChunk++;
                        Bump(perType, lastCorrectType, 0, 0, 1);
                    }
                    else if (End(lastCorrect, correct, lastCorrectType, correctType) != End(lastGuessed, guessed, lastGuessedType, guessedType)
                        || guessedType != correctType)
                    {
                        inCorrect = false;
                    }
                }

                if (Start(lastCorrect, correct, lastCorrectType, correctType) && Start(lastGuessed, guessed, lastGuessedType, guessedType)
                    && guessedType == correctType)
                {
                    inCorrect = true;
                }

                if (Start(lastCorrect, correct, lastCorrectType, correctType))
                {
                    foundCorrect++;
                    Bump(perType, correctType, 1, 0, 0);
                }

                if (Start(lastGuessed, guessed, lastGuessedType, guessedType))
                {
                    foundGuessed++;
                    Bump(perType, guessedType, 0, 1, 0);
                }

                if (!boundary && correct == guessed && guessedType == correctType)
                {
                    correctTags++;
                }

                (lastGuessed, lastCorrect, lastGuessedType, lastCorrectType) = (guessed, correct, guessedType, correctType);
            }

            if (inCorrect)
            {
                correctChunk++;
                Bump(perType, lastCorrectType, 0, 0, 1);
            }

            return ((foundCorrect, foundGuessed, correctChunk), perType.ToDictionary(kv => kv.Key, kv => (kv.Value.Gold, kv.Value.Found, kv.Value.Correct)), correctTags);
        }

        private static void Bump(Dictionary<string, (int Gold, int Found, int Correct)> counts, string type, int gold, int found, int correct)
        {
            var c = counts.GetValueOrDefault(type);
            counts[type] = (c.Gold + gold, c.Found + found, c.Correct + correct);
        }

        private static (string, string) Split(string tag)
        {
            int hyphen = tag.IndexOf('-', StringComparison.Ordinal);
            return hyphen < 0 ? (tag, "") : (tag[..hyphen], tag[(hyphen + 1)..]);
        }

        private static bool End(string prevTag, string tag, string prevType, string type) =>
            (prevTag == "B" && tag == "B") || (prevTag == "B" && tag == "O") || (prevTag == "I" && tag == "B") ||
            (prevTag == "I" && tag == "O") || (prevTag == "E" && tag == "E") || (prevTag == "E" && tag == "I") ||
            (prevTag == "E" && tag == "O") || (prevTag != "O" && prevTag != "." && prevType != type) ||
            prevTag == "]" || prevTag == "[";

        private static bool Start(string prevTag, string tag, string prevType, string type) =>
            (prevTag == "B" && tag == "B") || (prevTag == "I" && tag == "B") || (prevTag == "O" && tag == "B") ||
            (prevTag == "O" && tag == "I") || (prevTag == "E" && tag == "E") || (prevTag == "E" && tag == "I") ||
            (prevTag == "O" && tag == "E") || (tag != "O" && tag != "." && prevType != type) ||
            tag == "[" || tag == "]";
    }
}
