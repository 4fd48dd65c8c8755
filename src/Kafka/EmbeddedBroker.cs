using System.Runtime.InteropServices;
using Confluent.Kafka;
using StreamBert.Kafka.Native;

namespace StreamBert.Kafka;

/// <summary>
/// An in-process Kafka cluster: librdkafka's mock cluster, started from the librdkafka library
/// Confluent.Kafka ships. It speaks the real Kafka wire protocol on loopback (random ports, see
/// <see cref="BootstrapServers"/>), so any Kafka client can use it; it also lets tests inject
/// faults (brokers down, latency, error responses).
/// </summary>
/// <remarks>
/// <para>The trade-off against real Kafka, measured with librdkafka 2.16.0:</para>
/// <list type="bullet">
/// <item>Each partition keeps at most about <b>5 MiB or 100,000 messages</b>; older records are
/// dropped <b>silently</b>. Size test and demo data to stay below that (more partitions, or consume
/// as you go).</item>
/// <item>Everything is in memory and gone on <see cref="Dispose"/>; memory grows with stored data.</item>
/// <item>Create topics with <see cref="CreateTopic(string, int, int)"/>: AdminClient
/// CreateTopics/DeleteTopics/CreatePartitions/DescribeConfigs answer "not supported", and topic
/// configs cannot be set (so nothing is compacted). A topic a producer auto-creates gets the
/// mock's fixed 4 partitions and 3 replicas, not <see cref="DefaultPartitions"/>.</item>
/// <item>Never call AdminClient <c>ListConsumerGroupsAsync</c> against it: it crashes the process.</item>
/// <item><c>read_committed</c> is not enforced and <c>SendOffsetsToTransaction</c> stores no
/// offsets; timestamps are fake. Prove exactly-once against real Kafka.</item>
/// <item>A partition led by a broker that is down stays unavailable until the broker is up again:
/// the mock does not elect a new leader.</item>
/// </list>
/// <para>Thread-safe: every call is executed on the cluster's own thread.</para>
/// </remarks>
public sealed class EmbeddedBroker : IDisposable
{
    private readonly MockClusterHandle _cluster;

    private EmbeddedBroker(MockClusterHandle cluster, int brokerCount, int defaultPartitions)
    {
        _cluster = cluster;
        BrokerCount = brokerCount;
        DefaultPartitions = defaultPartitions;

        // The mock's default 3 s delay before the first rebalance would stall every consumer
        // group in tests; controller-routed admin requests time out until a controller is set.
        MockClusterNative.rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, 0);
        MockClusterNative.rd_kafka_mock_set_controller_id(cluster, 1);

        BootstrapServers = Marshal.PtrToStringUTF8(MockClusterNative.rd_kafka_mock_cluster_bootstraps(cluster))
            ?? throw new InvalidOperationException("The mock cluster reported no bootstrap servers.");
    }

    /// <summary>Comma-separated <c>host:port</c> list of all brokers, for <c>bootstrap.servers</c>.</summary>
    public string BootstrapServers { get; }

    /// <summary>Number of brokers; their ids are 1 to <see cref="BrokerCount"/>.</summary>
    public int BrokerCount { get; }

    /// <summary>Partition count of topics created with <see cref="CreateTopic(string)"/>.</summary>
    public int DefaultPartitions { get; }

    /// <summary>Starts a cluster of <paramref name="brokers"/> brokers (ids 1..N); takes milliseconds.</summary>
    public static EmbeddedBroker Start(int brokers = 3, int defaultPartitions = 3)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(brokers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(defaultPartitions, 1);

        var cluster = MockClusterHandle.Create(brokers);
        try
        {
            return new EmbeddedBroker(cluster, brokers, defaultPartitions);
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>Creates a topic with <see cref="DefaultPartitions"/> partitions and one replica.</summary>
    public void CreateTopic(string name) => CreateTopic(name, DefaultPartitions);

    /// <summary>Creates a topic; it is visible to clients when this returns.</summary>
    /// <exception cref="KafkaException">The topic exists already, or the name is invalid.</exception>
    public void CreateTopic(string name, int partitions, int replicationFactor = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicationFactor, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(replicationFactor, BrokerCount);
        ThrowIfError(MockClusterNative.rd_kafka_mock_topic_create(_cluster, name, partitions, replicationFactor), $"create topic '{name}'");
    }

    /// <summary>
    /// Takes broker <paramref name="id"/> down (-1: all brokers): its connections are closed and
    /// new ones refused until <see cref="SetBrokerUp"/>. Partitions it leads become unavailable.
    /// </summary>
    public void SetBrokerDown(int id) =>
        ThrowIfError(MockClusterNative.rd_kafka_mock_broker_set_down(_cluster, id), $"set broker {id} down");

    /// <summary>Brings broker <paramref name="id"/> (-1: all brokers) back up.</summary>
    public void SetBrokerUp(int id) =>
        ThrowIfError(MockClusterNative.rd_kafka_mock_broker_set_up(_cluster, id), $"set broker {id} up");

    /// <summary>Delays every response of broker <paramref name="id"/> (-1: all) by <paramref name="rtt"/>; zero removes the delay.</summary>
    public void SetRtt(int id, TimeSpan rtt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rtt, TimeSpan.Zero);
        ThrowIfError(MockClusterNative.rd_kafka_mock_broker_set_rtt(_cluster, id, checked((int)rtt.TotalMilliseconds)), $"set broker {id} rtt");
    }

    /// <summary>Moves the leadership of one partition to broker <paramref name="brokerId"/>.</summary>
    public void SetPartitionLeader(string topic, int partition, int brokerId) =>
        ThrowIfError(
            MockClusterNative.rd_kafka_mock_partition_set_leader(_cluster, topic, partition, brokerId),
            $"move leader of {topic}[{partition}] to broker {brokerId}");

    /// <summary>
    /// Makes the next requests with Kafka API key <paramref name="apiKey"/> (for example 0 =
    /// Produce, 1 = Fetch, 8 = OffsetCommit), on any broker, fail with <paramref name="errors"/>,
    /// one error per request, in order. Later requests succeed again.
    /// </summary>
    public unsafe void PushRequestErrors(short apiKey, params ErrorCode[] errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (errors.Length == 0)
        {
            return;
        }

        // ErrorCode is an int enum with rd_kafka_resp_err_t's values, so the array is passed as is.
        fixed (ErrorCode* first = errors)
        {
            MockClusterNative.rd_kafka_mock_push_request_errors_array(_cluster, apiKey, (nuint)errors.Length, (int*)first);
        }
    }

    /// <summary>Drops the errors still queued by <see cref="PushRequestErrors"/> for <paramref name="apiKey"/>.</summary>
    public void ClearRequestErrors(short apiKey) =>
        MockClusterNative.rd_kafka_mock_clear_request_errors(_cluster, apiKey);

    /// <summary>Stops all brokers and frees their data. Clients still connected see the brokers go away.</summary>
    public void Dispose() => _cluster.Dispose();

    private static void ThrowIfError(int error, string operation)
    {
        if (error != 0)
        {
            var code = (ErrorCode)error;
            throw new KafkaException(new Error(code, $"Embedded broker could not {operation}: {code.GetReason()}"));
        }
    }
}
