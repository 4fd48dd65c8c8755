using Onnx;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;

namespace StreamBert.Training.Onnx;

/// <summary>How close an int8 graph (<see cref="Int8Quantizer"/>) stays to its fp32 source, measured with ONNX Runtime.</summary>
public static class Int8Parity
{
    /// <summary>
    /// Smallest and mean cosine, over <paramref name="texts"/>, between the mean-pooled <c>last_hidden_state</c> of the
    /// two graphs (the quantity sentence heads read).
    /// </summary>
    public static (double Min, double Mean) MeanPooledCosine(ModelProto reference, ModelProto candidate, WordPieceTokenizer tokenizer, IReadOnlyList<string> texts, int maxLength = 64)
    {
        var batch = ParityBatch.Encode(tokenizer, texts, maxLength);
        string[] outputs = [BertOnnxWriter.LastHiddenState];
        var a = OnnxParity.RunOrt(reference, batch, outputs)[outputs[0]];
        var b = OnnxParity.RunOrt(candidate, batch, outputs)[outputs[0]];
        var hidden = a.Length / (batch.Rows * batch.Length);
        var min = 1.0;
        var sum = 0.0;
        for (var row = 0; row < batch.Rows; row++)
        {
            var pa = new double[hidden];
            var pb = new double[hidden];
            for (var t = 0; t < batch.Lengths[row]; t++)
            {
                var offset = ((row * batch.Length) + t) * hidden;
                for (var h = 0; h < hidden; h++)
                {
                    pa[h] += a[offset + h];
                    pb[h] += b[offset + h];
                }
            }

            double dot = 0, na = 0, nb = 0;
            for (var h = 0; h < hidden; h++)
            {
                dot += pa[h] * pb[h];
                na += pa[h] * pa[h];
                nb += pb[h] * pb[h];
            }

            var cosine = dot / Math.Sqrt(na * nb);
            min = Math.Min(min, cosine);
            sum += cosine;
        }

        return (min, sum / batch.Rows);
    }
}
