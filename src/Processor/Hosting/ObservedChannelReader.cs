using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;

namespace StreamBert.Processor.Hosting;

/// <summary>
/// A channel reader that calls <c>taken</c> for each item its consumer takes: lets the service see the hand-over
/// to a stage (the in-flight budget's release before the producer) without that stage knowing.
/// </summary>
internal sealed class ObservedChannelReader<T>(ChannelReader<T> inner, Action<T> taken) : ChannelReader<T>
{
    public override Task Completion => inner.Completion;

    public override bool CanCount => inner.CanCount;

    public override bool CanPeek => inner.CanPeek;

    public override int Count => inner.Count;

    public override bool TryRead([MaybeNullWhen(false)] out T item)
    {
        if (!inner.TryRead(out item))
        {
            return false;
        }

        taken(item);
        return true;
    }

    public override bool TryPeek([MaybeNullWhen(false)] out T item) => inner.TryPeek(out item);

    public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => inner.WaitToReadAsync(cancellationToken);

    public override async ValueTask<T> ReadAsync(CancellationToken cancellationToken = default)
    {
        var item = await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
        taken(item);
        return item;
    }
}
