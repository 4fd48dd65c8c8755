using System.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;
using StreamBert.Engine.Heads;
using StreamBert.Training.Evaluation;

namespace StreamBert.Training.Heads;

/// <summary>Scores predictions on the validation rows; higher is better.</summary>
/// <param name="gold">Gold class indices of the validation rows, in the order of <see cref="HeadTrainerOptions.ValidationRows"/>
/// (or ascending row order for the automatic slice).</param>
/// <param name="predicted">Predicted class indices (argmax of the logits), same order.</param>
public delegate double HeadMetric(IReadOnlyList<int> gold, IReadOnlyList<int> predicted);

/// <summary>Hyperparameters of <see cref="HeadTrainer.Train"/>. The defaults suit heads over MiniLM features.</summary>
public sealed record HeadTrainerOptions
{
    /// <summary>Hidden units; 0 (default) trains a linear head.</summary>
    public int HiddenDim { get; init; }

    /// <summary>Hidden activation when <see cref="HiddenDim"/> &gt; 0 (default ReLU, see <see cref="HeadActivation"/>).</summary>
    public HeadActivation Activation { get; init; } = HeadActivation.Relu;

    /// <summary>Standardise features with the training rows' mean and std, stored in the head (default on).</summary>
    public bool Standardize { get; init; } = true;

    /// <summary>Most passes over the training rows.</summary>
    public int MaxEpochs { get; init; } = 30;

    /// <summary>Rows per AdamW step.</summary>
    public int BatchSize { get; init; } = 256;

    /// <summary>AdamW step size.</summary>
    public float LearningRate { get; init; } = 1e-3f;

    /// <summary>Decoupled weight decay (AdamW), applied to weights, not biases.</summary>
    public float WeightDecay { get; init; } = 1e-4f;

    /// <summary>AdamW first-moment decay.</summary>
    public float Beta1 { get; init; } = 0.9f;

    /// <summary>AdamW second-moment decay.</summary>
    public float Beta2 { get; init; } = 0.999f;

    /// <summary>AdamW denominator term.</summary>
    public float Epsilon { get; init; } = 1e-8f;

    /// <summary>
    /// Weight each row's loss by n / (k·n_c) for its class c, where n is the number of training rows, n_c those of class c
    /// and k the number of classes present (scikit-learn's "balanced"), so rare classes count as much as frequent ones.
    /// Off by default. The batch loss is the weighted mean (divided by the sum of the batch's weights), as in PyTorch.
    /// </summary>
    public bool BalanceClasses { get; init; }

    /// <summary>Share of rows held out for early stopping when <see cref="ValidationRows"/> is null (default 0.1; 0 = none).</summary>
    public double ValidationFraction { get; init; } = 0.1;

    /// <summary>Explicit validation rows (indices into the features), for example whole held-out sentences for NER.
    /// They are excluded from training. Overrides <see cref="ValidationFraction"/>.</summary>
    public IReadOnlyList<int>? ValidationRows { get; init; }

    /// <summary>Stop after this many epochs without improvement of the validation metric.</summary>
    public int Patience { get; init; } = 3;

    /// <summary>Smallest increase of the validation metric that counts as an improvement.</summary>
    public double MinImprovement { get; init; } = 1e-4;

    /// <summary>Validation metric; null means macro F1 over the classes present (<see cref="MulticlassMetrics.MacroF1"/>).</summary>
    public HeadMetric? ValidationMetric { get; init; }

    /// <summary>Seed of the initial weights, the validation slice and the shuffling.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Threads used for the matrix products. Results do not depend on it.</summary>
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;
}

/// <summary>One finished epoch.</summary>
/// <param name="Epoch">1-based epoch number.</param>
/// <param name="TrainLoss">Mean (class-weighted) cross-entropy over the epoch's training rows.</param>
/// <param name="ValidationMetric">Validation metric after the epoch; NaN without validation rows.</param>
/// <param name="Improved">Whether this epoch is the best so far (its weights are kept).</param>
/// <param name="Elapsed">Time since training started.</param>
public sealed record HeadEpochProgress(int Epoch, double TrainLoss, double ValidationMetric, bool Improved, TimeSpan Elapsed);

/// <summary>Outcome of <see cref="HeadTrainer.Train"/>.</summary>
public sealed record HeadTrainingResult
{
    /// <summary>The trained head, with the weights of the best validation epoch (or the last epoch without validation).</summary>
    public required DenseHead Head { get; init; }

    /// <summary>Epoch whose weights <see cref="Head"/> has.</summary>
    public required int BestEpoch { get; init; }

    /// <summary>Validation metric of <see cref="BestEpoch"/>; NaN without validation rows.</summary>
    public required double BestValidationMetric { get; init; }

    /// <summary>Every epoch run.</summary>
    public required IReadOnlyList<HeadEpochProgress> Epochs { get; init; }

    /// <summary>True when training stopped before <see cref="HeadTrainerOptions.MaxEpochs"/> for lack of improvement.</summary>
    public required bool StoppedEarly { get; init; }

    /// <summary>Rows trained on.</summary>
    public required int TrainRows { get; init; }

    /// <summary>Rows held out for validation.</summary>
    public required int ValidationRows { get; init; }

    /// <summary>Loss weight per class (all 1 unless <see cref="HeadTrainerOptions.BalanceClasses"/>).</summary>
    public required IReadOnlyList<float> ClassWeights { get; init; }
}

/// <summary>
/// Trains a <see cref="DenseHead"/> on precomputed features: softmax cross-entropy, mini-batch AdamW, seeded
/// shuffling, optional class weights, and early stopping on a validation metric.
/// </summary>
/// <remarks>
/// <para><b>Validation.</b> Unless <see cref="HeadTrainerOptions.ValidationRows"/> is given, a seeded random
/// <see cref="HeadTrainerOptions.ValidationFraction"/> of the rows is held out (random rather than a contiguous slice,
/// because data files are often sorted by label). After each epoch the metric is computed on it; the best epoch's
/// weights are kept, and training stops after <see cref="HeadTrainerOptions.Patience"/> epochs without improvement.
/// The held-out rows are never trained on; retrain with <c>ValidationFraction = 0</c> and <c>MaxEpochs = BestEpoch</c>
/// to use them.</para>
/// <para><b>Initialisation.</b> Hidden weights He-uniform (±√(6/D)), output weights uniform ±1/√fan-in (PyTorch's
/// Linear default), biases zero. Standardisation statistics come from the training rows; a constant feature gets std 1.</para>
/// <para><b>Determinism.</b> The same data, options and seed give bit-identical weights on the same machine, whatever
/// <see cref="HeadTrainerOptions.MaxDegreeOfParallelism"/> is: work is split so that every number is computed by the
/// same sequence of operations regardless of the thread that computes it, and reductions run in a fixed order.</para>
/// <para><b>Speed.</b> The forward pass and the weight gradients are blocked SIMD matrix products split across threads;
/// the cost per epoch is about 4·rows·D·H (+ C) multiply-adds.</para>
/// </remarks>
public static class HeadTrainer
{
    /// <summary>Trains a head; see <see cref="HeadTrainer"/>.</summary>
    /// <param name="features">One feature vector per row, all of the same length D.</param>
    /// <param name="labels">Class index (0..<paramref name="classCount"/>−1) per row.</param>
    /// <param name="classCount">Number of classes C.</param>
    /// <param name="options">Hyperparameters; null for the defaults.</param>
    /// <param name="progress">Told about each epoch, synchronously on the training thread.</param>
    /// <param name="cancellationToken">Checked before every mini-batch.</param>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    /// <exception cref="InvalidOperationException">The loss became NaN or infinite (lower the learning rate).</exception>
    public static HeadTrainingResult Train(
        float[][] features, int[] labels, int classCount, HeadTrainerOptions? options = null,
        IProgress<HeadEpochProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        options ??= new HeadTrainerOptions();
        Validate(features, labels, classCount, options);
        var run = new TrainingRun(features, labels, classCount, options);
        return run.Execute(progress, cancellationToken);
    }

    private static void Validate(float[][] features, int[] labels, int classCount, HeadTrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfLessThan(classCount, 2);
        if (features.Length == 0 || features.Length != labels.Length)
        {
            throw new ArgumentException($"Need one label per feature row and at least one row; got {features.Length} rows and {labels.Length} labels.");
        }

        int dim = features[0]?.Length ?? 0;
        if (dim == 0)
        {
            throw new ArgumentException("Feature rows must be non-empty.", nameof(features));
        }

        for (int i = 0; i < features.Length; i++)
        {
            if (features[i] is null || features[i].Length != dim)
            {
                throw new ArgumentException($"Row {i} has {features[i]?.Length ?? 0} features, row 0 has {dim}.", nameof(features));
            }

            if ((uint)labels[i] >= (uint)classCount)
            {
                throw new ArgumentException($"Label {labels[i]} of row {i} is outside 0..{classCount - 1}.", nameof(labels));
            }

            int extreme = TensorPrimitives.IndexOfMaxMagnitude(features[i]);
            if (!float.IsFinite(features[i][extreme]))
            {
                throw new ArgumentException($"Row {i} feature {extreme} is {features[i][extreme]}.", nameof(features));
            }
        }

        ArgumentOutOfRangeException.ThrowIfNegative(options.HiddenDim);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxEpochs, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxDegreeOfParallelism, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Patience, 1);
        if (options.ValidationFraction is < 0 or >= 1 || double.IsNaN(options.ValidationFraction))
        {
            throw new ArgumentOutOfRangeException(nameof(options), "ValidationFraction must be in [0, 1).");
        }

        if (!(options.LearningRate > 0) || options.WeightDecay < 0 || options.Beta1 is < 0 or >= 1 || options.Beta2 is < 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "Need LearningRate > 0, WeightDecay >= 0 and betas in [0, 1).");
        }

        if (options.HiddenDim > 0 && options.Activation == HeadActivation.None)
        {
            throw new ArgumentException("A hidden layer needs an activation (Relu or Gelu).", nameof(options));
        }
    }

    /// <summary>All state of one training run; buffers are sized once for a batch.</summary>
    private sealed class TrainingRun
    {
        // Column blocks of the weight-gradient product are multiples of this, so each thread gets whole SIMD tiles.
        private const int ColumnAlign = 32;
        private const int RowAlign = 4;

        // Indices into the parameter, gradient and moment arrays.
        private const int HiddenWeights = 0, HiddenBias = 1, OutputWeights = 2, OutputBias = 3;

        private readonly float[][] _features;
        private readonly int[] _labels;
        private readonly int _classes;
        private readonly HeadTrainerOptions _options;
        private readonly int _dim, _hidden, _outIn, _batch, _threads;
        private readonly ParallelOptions _parallel;
        private readonly DenseHead _head;
        private readonly float[] _classWeights;
        private readonly int[] _trainRows;
        private readonly int[] _validationRows;

        // Activations and gradients of one batch.
        private readonly float[] _x, _z1, _a1, _logits, _dLogits, _dA1, _scratch1, _scratch2, _rowLoss, _rowWeight;
        private readonly int[] _batchRows;

        // Parameter gradients and AdamW moments, in the order W1, b1, W2, b2.
        private readonly float[][] _params, _grads, _m, _v;
        private readonly bool[] _decay;
        private long _step;

        public TrainingRun(float[][] features, int[] labels, int classCount, HeadTrainerOptions options)
        {
            _features = features;
            _labels = labels;
            _classes = classCount;
            _options = options;
            _dim = features[0].Length;
            _hidden = options.HiddenDim;
            _outIn = _hidden > 0 ? _hidden : _dim;
            _threads = options.MaxDegreeOfParallelism;
            _parallel = new ParallelOptions { MaxDegreeOfParallelism = _threads };
            (_trainRows, _validationRows) = SplitRows(features.Length, options);
            _batch = Math.Min(options.BatchSize, Math.Max(_trainRows.Length, _validationRows.Length));

            _head = new DenseHead(_dim, _hidden, classCount,
                _hidden > 0 ? options.Activation : HeadActivation.None, options.Standardize);
            _classWeights = ClassWeights();

            _x = new float[_batch * _dim];
            _z1 = new float[_batch * _hidden];
            _a1 = new float[_batch * _hidden];
            _dA1 = new float[_batch * _hidden];
            _scratch1 = new float[_batch * _hidden];
            _scratch2 = new float[_batch * _hidden];
            _logits = new float[_batch * classCount];
            _dLogits = new float[_batch * classCount];
            _rowLoss = new float[_batch];
            _rowWeight = new float[_batch];
            _batchRows = new int[_batch];

            _params = [_head.HiddenWeightsArray, _head.HiddenBiasArray, _head.OutputWeightsArray, _head.OutputBiasArray];
            _decay = [true, false, true, false];
            _grads = [.. _params.Select(p => new float[p.Length])];
            _m = [.. _params.Select(p => new float[p.Length])];
            _v = [.. _params.Select(p => new float[p.Length])];
        }

        public HeadTrainingResult Execute(IProgress<HeadEpochProgress>? progress, CancellationToken cancellationToken)
        {
            var clock = Stopwatch.StartNew();
            if (_options.Standardize)
            {
                ComputeStandardization();
            }

            InitializeWeights();
            var shuffleRandom = new Random(unchecked(_options.Seed * 31 + 7));
            var order = (int[])_trainRows.Clone();
            var best = _validationRows.Length > 0
                ? new DenseHead(_dim, _hidden, _classes, _head.Activation, _options.Standardize)
                : null;
            double bestMetric = double.NegativeInfinity;
            int bestEpoch = 0, sinceBest = 0;
            bool stoppedEarly = false;
            var epochs = new List<HeadEpochProgress>();

            for (int epoch = 1; epoch <= _options.MaxEpochs; epoch++)
            {
                shuffleRandom.Shuffle(order);
                double lossSum = 0, weightSum = 0;
                for (int start = 0; start < order.Length; start += _batch)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var rows = order.AsSpan(start, Math.Min(_batch, order.Length - start));
                    var (loss, weight) = TrainBatch(rows);
                    lossSum += loss;
                    weightSum += weight;
                }

                double trainLoss = weightSum > 0 ? lossSum / weightSum : 0;
                if (!double.IsFinite(trainLoss))
                {
                    throw new InvalidOperationException(
                        $"Training diverged in epoch {epoch} (loss {trainLoss}); lower the learning rate.");
                }

                double metric = double.NaN;
                bool improved;
                if (best is not null)
                {
                    metric = ValidationMetric(cancellationToken);
                    improved = metric > bestMetric + _options.MinImprovement;
                    if (improved)
                    {
                        bestMetric = metric;
                        bestEpoch = epoch;
                        best.CopyFrom(_head);
                        sinceBest = 0;
                    }
                    else
                    {
                        sinceBest++;
                    }
                }
                else
                {
                    improved = true;
                    bestEpoch = epoch;
                }

                var report = new HeadEpochProgress(epoch, trainLoss, metric, improved, clock.Elapsed);
                epochs.Add(report);
                progress?.Report(report);
                if (best is not null && sinceBest >= _options.Patience && epoch < _options.MaxEpochs)
                {
                    stoppedEarly = true;
                    break;
                }
            }

            if (best is not null && bestEpoch > 0)
            {
                _head.CopyFrom(best);
            }

            return new HeadTrainingResult
            {
                Head = _head,
                BestEpoch = bestEpoch,
                BestValidationMetric = best is not null ? bestMetric : double.NaN,
                Epochs = epochs,
                StoppedEarly = stoppedEarly,
                TrainRows = _trainRows.Length,
                ValidationRows = _validationRows.Length,
                ClassWeights = _classWeights,
            };
        }

        private static (int[] Train, int[] Validation) SplitRows(int count, HeadTrainerOptions options)
        {
            bool[] isValidation = new bool[count];
            if (options.ValidationRows is { } explicitRows)
            {
                foreach (int row in explicitRows)
                {
                    if ((uint)row >= (uint)count || isValidation[row])
                    {
                        throw new ArgumentException($"Validation row {row} is out of range or repeated.", nameof(options));
                    }

                    isValidation[row] = true;
                }

                var train = Enumerable.Range(0, count).Where(i => !isValidation[i]).ToArray();
                if (train.Length == 0)
                {
                    throw new ArgumentException("Every row is a validation row; nothing is left to train on.", nameof(options));
                }

                return (train, [.. explicitRows]);
            }

            int validationCount = (int)Math.Round(count * options.ValidationFraction);
            if (validationCount == 0 || validationCount >= count)
            {
                return (Enumerable.Range(0, count).ToArray(), []);
            }

            var permutation = Enumerable.Range(0, count).ToArray();
            new Random(unchecked(options.Seed * 31 + 3)).Shuffle(permutation);
            for (int i = 0; i < validationCount; i++)
            {
                isValidation[permutation[i]] = true;
            }

            return (Enumerable.Range(0, count).Where(i => !isValidation[i]).ToArray(),
                Enumerable.Range(0, count).Where(i => isValidation[i]).ToArray());
        }

        private float[] ClassWeights()
        {
            var weights = Enumerable.Repeat(1f, _classes).ToArray();
            if (!_options.BalanceClasses)
            {
                return weights;
            }

            var counts = new int[_classes];
            foreach (int row in _trainRows)
            {
                counts[_labels[row]]++;
            }

            int present = counts.Count(c => c > 0);
            for (int c = 0; c < _classes; c++)
            {
                // A class without training rows never is a target, so its weight is irrelevant; keep 1.
                weights[c] = counts[c] > 0 ? (float)((double)_trainRows.Length / (present * counts[c])) : 1f;
            }

            return weights;
        }

        private void ComputeStandardization()
        {
            // Per-feature mean and std over the training rows, shifted by the first row to limit cancellation.
            // Blocks of rows are summed in float with SIMD, block sums in double; columns are split across
            // threads and rows always run in the same order, so the result does not depend on the thread count.
            const int RowsPerBlock = 64;
            var sum = new double[_dim];
            var sumSquares = new double[_dim];
            float[] shift = _features[_trainRows[0]];
            RunParallel(_dim, 64, (from, to) =>
            {
                int width = to - from;
                var blockSum = new float[width];
                var blockSquares = new float[width];
                var centered = new float[width];
                for (int r = 0; r < _trainRows.Length; r++)
                {
                    TensorPrimitives.Subtract(_features[_trainRows[r]].AsSpan(from, width), shift.AsSpan(from, width), centered);
                    TensorPrimitives.Add(blockSum, centered, blockSum);
                    TensorPrimitives.MultiplyAdd(centered, centered, blockSquares, blockSquares);
                    if ((r + 1) % RowsPerBlock == 0 || r == _trainRows.Length - 1)
                    {
                        for (int j = 0; j < width; j++)
                        {
                            sum[from + j] += blockSum[j];
                            sumSquares[from + j] += blockSquares[j];
                        }

                        Array.Clear(blockSum);
                        Array.Clear(blockSquares);
                    }
                }
            });

            int n = _trainRows.Length;
            var mean = new float[_dim];
            var std = new float[_dim];
            for (int j = 0; j < _dim; j++)
            {
                double m = sum[j] / n;
                double variance = Math.Max(0, (sumSquares[j] / n) - (m * m));
                mean[j] = (float)(m + shift[j]);
                double s = Math.Sqrt(variance);
                std[j] = s > 1e-6 ? (float)s : 1f;
            }

            _head.SetStandardization(mean, std);
        }

        private void InitializeWeights()
        {
            var random = new Random(_options.Seed);
            if (_hidden > 0)
            {
                FillUniform(random, _head.HiddenWeightsArray, MathF.Sqrt(6f / _dim));
            }

            FillUniform(random, _head.OutputWeightsArray, 1f / MathF.Sqrt(_outIn));
        }

        private static void FillUniform(Random random, float[] values, float bound)
        {
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = (float)((random.NextDouble() * 2 - 1) * bound);
            }
        }

        /// <summary>One AdamW step on the given rows; returns the class-weighted loss sum and weight sum.</summary>
        private (double Loss, double Weight) TrainBatch(ReadOnlySpan<int> rows)
        {
            int n = rows.Length;
            Gather(rows);
            Forward(n);

            double weightSum = 0;
            for (int r = 0; r < n; r++)
            {
                _rowWeight[r] = _classWeights[_labels[rows[r]]];
                weightSum += _rowWeight[r];
            }

            float scale = (float)(1.0 / weightSum);
            RunParallel(n, RowAlign, (from, to) => SoftmaxCrossEntropy(from, to, scale));
            double lossSum = 0;
            for (int r = 0; r < n; r++)
            {
                lossSum += (double)_rowWeight[r] * _rowLoss[r];
            }

            Backward(n);
            AdamStep();
            return (lossSum, weightSum);
        }

        /// <summary>Copies (and standardises) the rows into the batch matrix; remembers them in <see cref="_batchRows"/>.</summary>
        private void Gather(ReadOnlySpan<int> rows)
        {
            rows.CopyTo(_batchRows);
            RunParallel(rows.Length, 1, (from, to) =>
            {
                for (int r = from; r < to; r++)
                {
                    var destination = _x.AsSpan(r * _dim, _dim);
                    if (_options.Standardize)
                    {
                        _head.Standardize(_features[_batchRows[r]], destination);
                    }
                    else
                    {
                        _features[_batchRows[r]].CopyTo(destination);
                    }
                }
            });
        }

        private void Forward(int n)
        {
            RunParallel(n, RowAlign, (from, to) =>
            {
                int rows = to - from;
                var x = _x.AsSpan(from * _dim, rows * _dim);
                ReadOnlySpan<float> input = x;
                if (_hidden > 0)
                {
                    var z1 = _z1.AsSpan(from * _hidden, rows * _hidden);
                    var a1 = _a1.AsSpan(from * _hidden, rows * _hidden);
                    DenseKernels.MultiplyTransposedB(x, rows, _dim, _head.HiddenWeightsArray, _hidden, _head.HiddenBiasArray, z1);
                    z1.CopyTo(a1);
                    Activations.Apply(_head.Activation, a1, _scratch1.AsSpan(from * _hidden, rows * _hidden));
                    input = a1;
                }

                DenseKernels.MultiplyTransposedB(input, rows, _outIn, _head.OutputWeightsArray, _classes,
                    _head.OutputBiasArray, _logits.AsSpan(from * _classes, rows * _classes));
            });
        }

        /// <summary>Per-row loss and dLoss/dlogits = w·(softmax − onehot) / Σw for rows from..to.</summary>
        private void SoftmaxCrossEntropy(int from, int to, float scale)
        {
            for (int r = from; r < to; r++)
            {
                var logits = _logits.AsSpan(r * _classes, _classes);
                var gradient = _dLogits.AsSpan(r * _classes, _classes);
                int label = _labels[_batchRows[r]];
                float max = TensorPrimitives.Max(logits);
                TensorPrimitives.Subtract(logits, max, gradient);
                float shiftedTarget = gradient[label];
                TensorPrimitives.Exp(gradient, gradient);
                float sum = TensorPrimitives.Sum(gradient);
                _rowLoss[r] = MathF.Log(sum) - shiftedTarget;
                TensorPrimitives.Multiply(gradient, _rowWeight[r] * scale / sum, gradient);
                gradient[label] -= _rowWeight[r] * scale;
            }
        }

        private void Backward(int n)
        {
            var outputInput = _hidden > 0 ? _a1 : _x;

            // dW2 = dLogitsᵀ·A, split by columns; db2 = Σ rows of dLogits.
            RunParallel(_outIn, ColumnAlign, (from, to) =>
                DenseKernels.MultiplyTransposedA(_dLogits, outputInput, n, _classes, _outIn, _grads[OutputWeights], 0, _classes, from, to));
            SumRows(_dLogits, n, _classes, _grads[OutputBias]);

            if (_hidden == 0)
            {
                return;
            }

            // dA1 = dLogits·W2, then dZ1 = dA1 ⊙ act'(Z1), row by row.
            RunParallel(n, RowAlign, (from, to) =>
            {
                var w2 = _head.OutputWeightsArray;
                for (int r = from; r < to; r++)
                {
                    var dA = _dA1.AsSpan(r * _hidden, _hidden);
                    TensorPrimitives.Multiply(w2.AsSpan(0, _hidden), _dLogits[r * _classes], dA);
                    for (int c = 1; c < _classes; c++)
                    {
                        TensorPrimitives.MultiplyAdd(w2.AsSpan(c * _hidden, _hidden), _dLogits[r * _classes + c], dA, dA);
                    }
                }

                int offset = from * _hidden, length = (to - from) * _hidden;
                Activations.Backward(_head.Activation, _z1.AsSpan(offset, length), _dA1.AsSpan(offset, length),
                    _scratch1.AsSpan(offset, length), _scratch2.AsSpan(offset, length));
            });

            // dW1 = dZ1ᵀ·X, split by columns; db1 = Σ rows of dZ1.
            RunParallel(_dim, ColumnAlign, (from, to) =>
                DenseKernels.MultiplyTransposedA(_dA1, _x, n, _hidden, _dim, _grads[HiddenWeights], 0, _hidden, from, to));
            SumRows(_dA1, n, _hidden, _grads[HiddenBias]);
        }

        private static void SumRows(float[] matrix, int rows, int columns, float[] destination)
        {
            Array.Clear(destination);
            for (int r = 0; r < rows; r++)
            {
                TensorPrimitives.Add(destination, matrix.AsSpan(r * columns, columns), destination);
            }
        }

        private void AdamStep()
        {
            _step++;
            float beta1 = _options.Beta1, beta2 = _options.Beta2, eps = _options.Epsilon, lr = _options.LearningRate;
            float stepSize = lr / (1f - MathF.Pow(beta1, _step));
            float inverseSqrtCorrection2 = 1f / MathF.Sqrt(1f - MathF.Pow(beta2, _step));
            for (int k = 0; k < _params.Length; k++)
            {
                float[] p = _params[k], g = _grads[k], m = _m[k], v = _v[k];
                float decay = _decay[k] ? 1f - lr * _options.WeightDecay : 1f;
                RunParallel(p.Length, 1024, (from, to) =>
                    AdamW(p.AsSpan(from, to - from), g.AsSpan(from, to - from), m.AsSpan(from, to - from), v.AsSpan(from, to - from),
                        beta1, beta2, eps, decay, stepSize, inverseSqrtCorrection2));
            }
        }

        /// <summary>PyTorch's AdamW: p ← p·(1 − lr·λ) − lr/(1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + ε).</summary>
        private static void AdamW(
            Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
            float beta1, float beta2, float eps, float decay, float stepSize, float inverseSqrtCorrection2)
        {
            int i = 0;
            if (Vector.IsHardwareAccelerated)
            {
                int width = Vector<float>.Count;
                var b1 = new Vector<float>(beta1);
                var oneMinusB1 = new Vector<float>(1f - beta1);
                var b2 = new Vector<float>(beta2);
                var oneMinusB2 = new Vector<float>(1f - beta2);
                var epsilon = new Vector<float>(eps);
                var decayFactor = new Vector<float>(decay);
                var step = new Vector<float>(stepSize);
                var correction = new Vector<float>(inverseSqrtCorrection2);
                for (; i + width <= p.Length; i += width)
                {
                    var gi = new Vector<float>(g[i..]);
                    var mi = (b1 * new Vector<float>(m[i..])) + (oneMinusB1 * gi);
                    var vi = (b2 * new Vector<float>(v[i..])) + (oneMinusB2 * (gi * gi));
                    var pi = (new Vector<float>(p[i..]) * decayFactor) - (step * mi / ((Vector.SquareRoot(vi) * correction) + epsilon));
                    mi.CopyTo(m[i..]);
                    vi.CopyTo(v[i..]);
                    pi.CopyTo(p[i..]);
                }
            }

            for (; i < p.Length; i++)
            {
                float gi = g[i];
                float mi = (beta1 * m[i]) + ((1f - beta1) * gi);
                float vi = (beta2 * v[i]) + ((1f - beta2) * (gi * gi));
                m[i] = mi;
                v[i] = vi;
                p[i] = (p[i] * decay) - (stepSize * mi / ((MathF.Sqrt(vi) * inverseSqrtCorrection2) + eps));
            }
        }

        private double ValidationMetric(CancellationToken cancellationToken)
        {
            var gold = new int[_validationRows.Length];
            var predicted = new int[_validationRows.Length];
            for (int start = 0; start < _validationRows.Length; start += _batch)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var rows = _validationRows.AsSpan(start, Math.Min(_batch, _validationRows.Length - start));
                Gather(rows);
                Forward(rows.Length);
                for (int r = 0; r < rows.Length; r++)
                {
                    gold[start + r] = _labels[rows[r]];
                    predicted[start + r] = TensorPrimitives.IndexOfMax(_logits.AsSpan(r * _classes, _classes));
                }
            }

            return _options.ValidationMetric is { } metric
                ? metric(gold, predicted)
                : MulticlassMetrics.Compute(gold, predicted, _classes).MacroF1;
        }

        /// <summary>Runs body over [0, count) split into at most one contiguous range per thread, ranges aligned to <paramref name="align"/>.</summary>
        private void RunParallel(int count, int align, Action<int, int> body)
        {
            int blocks = (count + align - 1) / align;
            int parts = Math.Min(_threads, blocks);
            if (parts <= 1)
            {
                body(0, count);
                return;
            }

            Parallel.For(0, parts, _parallel, part =>
            {
                int from = (int)((long)blocks * part / parts) * align;
                int to = Math.Min(count, (int)((long)blocks * (part + 1) / parts) * align);
                body(from, to);
            });
        }
    }
}
