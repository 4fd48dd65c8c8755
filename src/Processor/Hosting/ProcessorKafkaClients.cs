using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using StreamBert.Processor.Diagnostics;
using StreamBert.Processor.Egress;
using StreamBert.Processor.Ingest;
using StreamBert.Service.Hosting;

namespace StreamBert.Processor.Hosting;

/// <summary>
/// The Kafka clients of one processor, built and wired for <see cref="ProcessorOptions.Delivery"/>: the consumer with its
/// rebalance handlers, the producer and, for <see cref="DeliveryGuarantee.ExactlyOnce"/>, its transactions (after
/// <c>InitTransactions</c>, which fences an older producer with the same <c>transactional.id</c> and aborts what it left
/// open). The service and the exactly-once tests build them here, so both run the same wiring.
/// </summary>
public sealed class ProcessorKafkaClients : IDisposable
{
    private ProcessorKafkaClients(IConsumer<byte[]?, byte[]?> consumer, IProducer<byte[]?, byte[]> producer, ProducerConfig producerConfig, KafkaTransactions? transactions, Offset resetOffset)
    {
        Consumer = consumer;
        Producer = producer;
        ProducerConfig = producerConfig;
        Transactions = transactions;
        ResetOffset = resetOffset;
    }

    public IConsumer<byte[]?, byte[]?> Consumer { get; }
    public IProducer<byte[]?, byte[]> Producer { get; }
    public ProducerConfig ProducerConfig { get; }

    /// <summary>Null unless <see cref="DeliveryGuarantee.ExactlyOnce"/>.</summary>
    public KafkaTransactions? Transactions { get; }

    /// <summary>Where a rewind seeks a partition without a committed offset: the consumer's <c>auto.offset.reset</c>.</summary>
    public Offset ResetOffset { get; }

    /// <summary>
    /// Builds the clients; <paramref name="onClientError"/> receives every client error (a fatal one must stop the host).
    /// <c>InitTransactions</c> is bounded by <paramref name="transactionTimeout"/> (default 30 s) and throws on failure.
    /// </summary>
    public static ProcessorKafkaClients Create(KafkaClientSettings kafka, ProcessorOptions options, OffsetTracker tracker, ProcessorMetrics metrics, ILogger logger, Action<Error> onClientError, TimeSpan? transactionTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(kafka);
        ArgumentNullException.ThrowIfNull(options);
        var consumerConfig = kafka.ConsumerConfig(options);
        var producerConfig = kafka.ProducerConfig(options);
        var producer = new ProducerBuilder<byte[]?, byte[]>(producerConfig)
            .SetErrorHandler((_, e) => onClientError(e))
            .Build();
        try
        {
            KafkaTransactions? transactions = null;
            IConsumer<byte[]?, byte[]?>? consumer = null;
            if (options.Delivery == DeliveryGuarantee.ExactlyOnce)
            {
                var timeout = transactionTimeout ?? TimeSpan.FromSeconds(30);
                producer.InitTransactions(timeout);
                // The group metadata is read at each commit, by then the consumer exists (it is built just below).
                transactions = new KafkaTransactions(producer, tracker, () => consumer!.ConsumerGroupMetadata, options.CommitInterval, metrics, logger, timeout);
            }

            consumer = KafkaIngest.WithRebalanceHandlers(new ConsumerBuilder<byte[]?, byte[]?>(consumerConfig), tracker, logger, transactions)
                .SetErrorHandler((_, e) => onClientError(e))
                .Build();
            var reset = consumerConfig.AutoOffsetReset == AutoOffsetReset.Latest ? Offset.End : Offset.Beginning;
            return new ProcessorKafkaClients(consumer, producer, producerConfig, transactions, reset);
        }
        catch
        {
            producer.Dispose();
            throw;
        }
    }

    /// <summary>Disposes both clients; only once no stage uses them any more (native code would crash under a running call).</summary>
    public void Dispose()
    {
        Consumer.Dispose();
        Producer.Dispose();
    }
}
