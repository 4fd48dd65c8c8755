namespace StreamBert.Training.FineTuning;

/// <summary>What is trained: the heads alone on a frozen encoder, or the encoder and the heads together.</summary>
public enum FineTuneMode
{
    /// <summary>Encoder frozen (no gradients, eval mode, so no dropout inside it); only the heads learn.</summary>
    Heads,

    /// <summary>Encoder and heads learn; the encoder at a lower learning rate so it keeps what pretraining taught it.</summary>
    Full,
}

/// <summary>Hyper-parameters of one <see cref="FineTuner{TExample}"/> run.</summary>
/// <remarks>
/// Defaults are the usual BERT fine-tuning recipe (AdamW, decoupled weight decay 0.01 except on biases and
/// LayerNorm, 10% linear warm-up then linear decay to zero, gradient norm clipped at 1.0), with a separate, higher
/// rate for the freshly initialised head: at the encoder's 5e-5 a random head needs many more steps than 2 cores
/// can afford.
/// </remarks>
public sealed record FineTuneOptions
{
    public FineTuneMode Mode { get; init; } = FineTuneMode.Full;
    public int Epochs { get; init; } = 3;
    public int BatchSize { get; init; } = 32;

    /// <summary>Learning rate of the encoder (full mode only).</summary>
    public double EncoderLearningRate { get; init; } = 5e-5;

    /// <summary>Learning rate of the heads.</summary>
    public double HeadLearningRate { get; init; } = 1e-3;

    public double WeightDecay { get; init; } = 0.01;

    /// <summary>Share of all steps spent warming the learning rate up linearly from zero.</summary>
    public double WarmupFraction { get; init; } = 0.1;

    /// <summary>Maximum L2 norm of all gradients together; 0 disables clipping.</summary>
    public double ClipNorm { get; init; } = 1.0;

    /// <summary>Validations without improvement before training stops.</summary>
    public int Patience { get; init; } = 2;

    /// <summary>Validate every this many steps; 0 validates at the end of each epoch only.</summary>
    public int ValidateEvery { get; init; }

    /// <summary>Print a progress line every this many steps; 0 for none.</summary>
    public int ProgressEvery { get; init; } = 20;

    public int Seed { get; init; } = 17;

    /// <summary>
    /// Batches are formed from chunks of this many batches' worth of shuffled examples, sorted by length within the
    /// chunk: padding shrinks to almost nothing while the order stays random at the chunk scale.
    /// </summary>
    public int BucketChunkBatches { get; init; } = 50;
}

/// <summary>
/// What <c>train --mode full</c> uses for a task unless told otherwise: the BERT recipe (3 epochs, batch 32, encoder lr
/// 5e-5), except NER, where four epochs at 1e-4 in batches of 16 with case token types measured CoNLL-2003 test entity
/// F1 0.895 against 0.856 for two epochs of the general recipe (README, "Fine-tuning").
/// </summary>
public sealed record FullModeDefaults(int Epochs, int BatchSize, double EncoderLearningRate, bool CaseTypes)
{
    public static FullModeDefaults For(string task) => task switch
    {
        Contracts.TaskNames.Ner => new FullModeDefaults(4, 16, 1e-4, true),
        // Joint claims + NER: NER's recipe, which the encoder's entity F1 needs; claims sentences get case types too,
        // since the processor fills them for every sentence of an article on a case-typed encoder.
        Jobs.TrainRequest.Articles => new FullModeDefaults(3, 16, 1e-4, true),
        _ => new FullModeDefaults(3, 32, 5e-5, false),
    };
}

/// <summary>One optimisation step, as reported to <see cref="FineTuner{TExample}.StepCompleted"/>.</summary>
/// <param name="Step">1-based step number over the whole run.</param>
/// <param name="TotalSteps">Steps the schedule was planned for.</param>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Loss">Mean loss of this batch.</param>
/// <param name="Examples">Examples in this batch.</param>
public sealed record FineTuneStep(int Step, int TotalSteps, int Epoch, double Loss, int Examples);

/// <summary>A validation pass.</summary>
public sealed record FineTuneValidation(int Step, int Epoch, double Metric, bool Improved);

/// <summary>Outcome of <see cref="FineTuner{TExample}.Train"/>; the model then holds the best weights seen.</summary>
public sealed record FineTuneResult
{
    /// <summary>Training loss of every step, in order.</summary>
    public required IReadOnlyList<double> Losses { get; init; }

    public required IReadOnlyList<FineTuneValidation> Validations { get; init; }

    /// <summary>Best validation metric (NaN when there was no validation data: the last weights are kept).</summary>
    public required double BestMetric { get; init; }

    /// <summary>Step after which the kept weights were taken.</summary>
    public required int BestStep { get; init; }

    public required int Steps { get; init; }

    public required bool StoppedEarly { get; init; }

    public required TimeSpan Elapsed { get; init; }

    /// <summary>Examples trained on per second of wall time (validation excluded).</summary>
    public required double ExamplesPerSecond { get; init; }
}
