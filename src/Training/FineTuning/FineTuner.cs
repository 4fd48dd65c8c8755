using System.Diagnostics;
using System.Globalization;
using StreamBert.Engine.Inference;
using StreamBert.Training.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace StreamBert.Training.FineTuning;

/// <summary>A tokenised training example: at least its word-piece ids with [CLS] and [SEP].</summary>
public interface ITokenizedExample
{
    /// <summary>Ids including [CLS] first and [SEP] last; at most the maximum sequence length.</summary>
    int[] Ids { get; }

    /// <summary>Word shape of each position (<see cref="WordShape.ForSequence"/>), needed by an encoder with case token types.</summary>
    float[]? WordShapes => null;
}

/// <summary>
/// The training loop of every BERT fine-tuning task (a template method, as ML.NET's <c>TorchSharpBaseTrainer</c>):
/// this base owns seeding, data order and length-bucketed batches, the per-step dispose scope, AdamW with warm-up and
/// linear decay, gradient clipping, cancellation, validation under <c>no_grad</c> in eval mode, early stopping and
/// keeping the best weights. A subclass says only how a batch becomes a loss and how a model is scored.
/// </summary>
/// <typeparam name="TExample">The task's tokenised example.</typeparam>
public abstract class FineTuner<TExample> where TExample : ITokenizedExample
{
    private readonly TextWriter? _log;

    protected FineTuner(BertEncoder encoder, nn.Module head, FineTuneOptions options, TextWriter? log)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Epochs, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1);
        Encoder = encoder;
        Head = head;
        Options = options;
        _log = log;
    }

    public BertEncoder Encoder { get; }

    /// <summary>The task head (or a container of several heads).</summary>
    public nn.Module Head { get; }

    public FineTuneOptions Options { get; }

    /// <summary>Called after every step (on the training thread), e.g. for tests and progress bars.</summary>
    public Action<FineTuneStep>? StepCompleted { get; init; }

    /// <summary>
    /// Trains on <paramref name="train"/>, validating on <paramref name="validation"/> (may be empty: then every
    /// epoch runs and the last weights are kept). On return the modules hold the best weights and are in eval mode.
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled; checked before every step and every validation.</exception>
    public FineTuneResult Train(IReadOnlyList<TExample> train, IReadOnlyList<TExample> validation, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfZero(train.Count);
        // Seeds dropout; the head's initial weights come from whatever seed was set before it was constructed.
        torch.manual_seed(Options.Seed);
        var random = new Random(Options.Seed);
        var full = Options.Mode == FineTuneMode.Full;
        foreach (var parameter in Encoder.parameters())
        {
            parameter.requires_grad = full;
        }

        var trainable = Trainable(full);
        using var optimizer = CreateOptimizer(trainable);
        var stepsPerEpoch = (train.Count + Options.BatchSize - 1) / Options.BatchSize;
        var totalSteps = stepsPerEpoch * Options.Epochs;
        var warmup = Math.Max(1, (int)Math.Round(totalSteps * Options.WarmupFraction));
        var parameters = trainable.SelectMany(g => g.Parameters).ToList();

        var losses = new List<double>(totalSteps);
        var validations = new List<FineTuneValidation>();
        var best = double.NegativeInfinity;
        var bestStep = 0;
        var sinceImprovement = 0;
        var stoppedEarly = false;
        Tensor[]? bestWeights = null;
        var clock = Stopwatch.StartNew();
        var trainingTime = TimeSpan.Zero;
        var examplesSeen = 0L;
        var step = 0;
        var windowLoss = 0.0;
        var windowSteps = 0;
        try
        {
            for (var epoch = 1; epoch <= Options.Epochs && !stoppedEarly; epoch++)
            {
                var batches = LengthBuckets.Plan(train, e => e.Ids.Length, Options.BatchSize, Options.BucketChunkBatches, random);
                for (var b = 0; b < batches.Count && !stoppedEarly; b++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var stepClock = Stopwatch.StartNew();
                    step++;
                    SetLearningRates(optimizer, Schedule(step, warmup, totalSteps));
                    SetTraining(full);
                    var batch = batches[b].Select(i => train[i]).ToList();
                    double loss;
                    using (var scope = NewDisposeScope())
                    {
                        optimizer.zero_grad();
                        var value = ComputeLoss(batch);
                        value.backward();
                        if (Options.ClipNorm > 0)
                        {
                            nn.utils.clip_grad_norm_(parameters, Options.ClipNorm);
                        }

                        optimizer.step();
                        loss = value.item<float>();
                    }

                    trainingTime += stepClock.Elapsed;
                    examplesSeen += batch.Count;
                    losses.Add(loss);
                    windowLoss += loss;
                    windowSteps++;
                    StepCompleted?.Invoke(new FineTuneStep(step, totalSteps, epoch, loss, batch.Count));
                    if (Options.ProgressEvery > 0 && (step % Options.ProgressEvery == 0 || step == totalSteps))
                    {
                        var rate = examplesSeen / Math.Max(trainingTime.TotalSeconds, 1e-6);
                        var eta = TimeSpan.FromSeconds(((totalSteps - step) * (double)Options.BatchSize) / Math.Max(rate, 1e-6));
                        _log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"  step {step}/{totalSteps} (epoch {epoch}): loss {windowLoss / windowSteps:F4}, {rate:F1} examples/s, ETA {eta:hh\\:mm\\:ss}"));
                        windowLoss = 0;
                        windowSteps = 0;
                    }

                    var endOfEpoch = b == batches.Count - 1;
                    if (validation.Count > 0 && ((Options.ValidateEvery > 0 && step % Options.ValidateEvery == 0) || endOfEpoch))
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        var metric = Validate(validation);
                        var improved = metric > best;
                        validations.Add(new FineTuneValidation(step, epoch, metric, improved));
                        _log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"  validation at step {step} (epoch {epoch}): {metric:F4}{(improved ? " *" : "")}"));
                        if (improved)
                        {
                            best = metric;
                            bestStep = step;
                            sinceImprovement = 0;
                            DisposeAll(bestWeights);
                            bestWeights = Snapshot(parameters);
                        }
                        else if (++sinceImprovement >= Options.Patience)
                        {
                            _log?.WriteLine($"  early stop: no improvement in {Options.Patience} validations");
                            stoppedEarly = true;
                        }
                    }
                }
            }

            if (bestWeights is not null)
            {
                Restore(parameters, bestWeights);
            }
            else
            {
                bestStep = step;
            }
        }
        finally
        {
            DisposeAll(bestWeights);
            Encoder.eval();
            Head.eval();
        }

        return new FineTuneResult
        {
            Losses = losses,
            Validations = validations,
            BestMetric = validations.Count == 0 ? double.NaN : best,
            BestStep = bestStep,
            Steps = step,
            StoppedEarly = stoppedEarly,
            Elapsed = clock.Elapsed,
            ExamplesPerSecond = examplesSeen / Math.Max(trainingTime.TotalSeconds, 1e-6),
        };
    }

    /// <summary>Scores the current model on <paramref name="examples"/> (higher is better), in eval mode under <c>no_grad</c>.</summary>
    public double Validate(IReadOnlyList<TExample> examples)
    {
        Encoder.eval();
        Head.eval();
        using var noGrad = no_grad();
        return Evaluate(examples);
    }

    /// <summary>Mean loss over <paramref name="examples"/> in eval mode (no dropout), e.g. to compare before and after training.</summary>
    public double MeanLoss(IReadOnlyList<TExample> examples)
    {
        Encoder.eval();
        Head.eval();
        using var noGrad = no_grad();
        double sum = 0;
        foreach (var indices in SortedBatches(examples))
        {
            using var scope = NewDisposeScope();
            sum += ComputeLoss(indices.Select(i => examples[i]).ToList()).item<float>() * indices.Length;
        }

        return sum / examples.Count;
    }

    /// <summary>The mean loss of one batch, with the modules already in the right mode; called inside a dispose scope.</summary>
    protected abstract Tensor ComputeLoss(IReadOnlyList<TExample> batch);

    /// <summary>The validation metric (higher is better); called in eval mode under <c>no_grad</c>.</summary>
    protected abstract double Evaluate(IReadOnlyList<TExample> examples);

    /// <summary>
    /// Runs the encoder on a padded batch. In heads mode it runs without building a graph: the frozen encoder needs no
    /// gradients, and skipping them roughly halves the step.
    /// </summary>
    protected Tensor[] EncodeBatch(PaddedBatch batch)
    {
        if (Options.Mode == FineTuneMode.Full || !is_grad_enabled())
        {
            return Encoder.forward(batch.Ids, batch.Mask, batch.Types);
        }

        using var noGrad = no_grad();
        return Encoder.forward(batch.Ids, batch.Mask, batch.Types);
    }

    /// <summary>
    /// The batch padded to its longest example, on the encoder's device: ids, attention mask and token types (all 0,
    /// or each piece's case type when the encoder has case types).
    /// </summary>
    protected PaddedBatch Pad(IReadOnlyList<TExample> batch)
    {
        var length = batch.Max(e => e.Ids.Length);
        var ids = new long[batch.Count * length];
        var mask = new long[batch.Count * length];
        var types = new long[batch.Count * length];
        for (var r = 0; r < batch.Count; r++)
        {
            var row = batch[r].Ids;
            for (var i = 0; i < row.Length; i++)
            {
                ids[(r * length) + i] = row[i];
                mask[(r * length) + i] = 1;
            }

            if (Encoder.Config.CaseTypes)
            {
                var shapes = batch[r].WordShapes ?? throw new InvalidOperationException("The encoder reads case token types; the example carries no word shapes.");
                WordShape.WriteCaseTypes(shapes, types.AsSpan(r * length, row.Length));
            }
        }

        var device = Device;
        long[] shape = [batch.Count, length];
        return new PaddedBatch(tensor(ids, shape, device: device), tensor(mask, shape, device: device), tensor(types, shape, device: device), length);
    }

    protected Device Device => Encoder.parameters().First().device;

    /// <summary>Indices of <paramref name="examples"/> in length-sorted batches, for validation and prediction passes.</summary>
    protected IEnumerable<int[]> SortedBatches(IReadOnlyList<TExample> examples)
    {
        var order = Enumerable.Range(0, examples.Count).OrderBy(i => examples[i].Ids.Length).ToArray();
        var size = Math.Max(Options.BatchSize, 64);
        for (var start = 0; start < order.Length; start += size)
        {
            yield return order[start..Math.Min(order.Length, start + size)];
        }
    }

    /// <summary>Linear warm-up to 1 over <paramref name="warmup"/> steps, then linear decay to 0 at <paramref name="total"/>.</summary>
    public static double Schedule(int step, int warmup, int total) =>
        step <= warmup ? step / (double)warmup : Math.Max(0, (total - step) / (double)Math.Max(1, total - warmup));

    private List<AdamW.ParamGroup> Trainable(bool full)
    {
        // Biases and LayerNorm scales get no weight decay: shrinking them towards zero is not regularisation (BERT's recipe).
        static bool NoDecay(string name) => name.EndsWith(".bias", StringComparison.Ordinal) || name.Contains("LayerNorm", StringComparison.Ordinal);
        var groups = new List<AdamW.ParamGroup>();
        void Add(nn.Module module, double lr)
        {
            var named = module.named_parameters().Where(p => p.parameter.requires_grad).ToList();
            var decay = named.Where(p => !NoDecay(p.name)).Select(p => p.parameter).ToList();
            var noDecay = named.Where(p => NoDecay(p.name)).Select(p => p.parameter).ToList();
            if (decay.Count > 0)
            {
                groups.Add(new AdamW.ParamGroup(decay, lr: lr, weight_decay: Options.WeightDecay));
            }

            if (noDecay.Count > 0)
            {
                groups.Add(new AdamW.ParamGroup(noDecay, lr: lr, weight_decay: 0));
            }
        }

        if (full)
        {
            Add(Encoder, Options.EncoderLearningRate);
        }

        Add(Head, Options.HeadLearningRate);
        return groups;
    }

    private static AdamW CreateOptimizer(List<AdamW.ParamGroup> groups) => optim.AdamW(groups, beta2: 0.999);

    private static void SetLearningRates(AdamW optimizer, double factor)
    {
        foreach (var group in optimizer.ParamGroups)
        {
            group.LearningRate = group.InitialLearningRate * factor;
        }
    }

    private void SetTraining(bool full)
    {
        // A frozen encoder stays in eval mode: its dropout would only add noise to features nothing learns from.
        Encoder.train(full);
        Head.train();
    }

    private static Tensor[] Snapshot(List<Parameter> parameters)
    {
        using var noGrad = no_grad();
        return parameters.Select(p => p.detach().clone().DetachFromDisposeScope()).ToArray();
    }

    private static void Restore(List<Parameter> parameters, Tensor[] weights)
    {
        using var noGrad = no_grad();
        for (var i = 0; i < parameters.Count; i++)
        {
            parameters[i].copy_(weights[i]);
        }
    }

    private static void DisposeAll(Tensor[]? tensors)
    {
        if (tensors is null)
        {
            return;
        }

        foreach (var t in tensors)
        {
            t.Dispose();
        }
    }
}

/// <summary>A padded batch as the encoder takes it: int64 [rows, <see cref="Length"/>] each.</summary>
public sealed record PaddedBatch(Tensor Ids, Tensor Mask, Tensor Types, int Length);
