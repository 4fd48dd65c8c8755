using System.Runtime.InteropServices;

namespace StreamBert.Kafka.Native;

/// <summary>
/// The parts of librdkafka's C API (<c>rdkafka.h</c>, <c>rdkafka_mock.h</c>) the embedded broker
/// needs. Only fixed-arity functions: varargs calls such as <c>rd_kafka_mock_push_request_errors</c>
/// cannot be marshalled portably, so the <c>_array</c> form is used instead.
/// </summary>
/// <remarks><c>rd_kafka_resp_err_t</c> is returned as <see cref="int"/>; it has the values of
/// <see cref="Confluent.Kafka.ErrorCode"/>.</remarks>
internal static unsafe partial class MockClusterNative
{
    internal const int ProducerType = 0; // RD_KAFKA_PRODUCER
    internal const int ConfOk = 0;       // RD_KAFKA_CONF_OK

    static MockClusterNative() => LibRdKafka.RouteImports(typeof(MockClusterNative).Assembly);

    [LibraryImport(LibRdKafka.ImportName)]
    internal static partial IntPtr rd_kafka_conf_new();

    [LibraryImport(LibRdKafka.ImportName, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int rd_kafka_conf_set(IntPtr conf, string name, string value, byte* errstr, nuint errstrSize);

    [LibraryImport(LibRdKafka.ImportName)]
    internal static partial void rd_kafka_conf_destroy(IntPtr conf);

    [LibraryImport(LibRdKafka.ImportName)]
    internal static partial IntPtr rd_kafka_new(int type, IntPtr conf, byte* errstr, nuint errstrSize);

    [LibraryImport(LibRdKafka.ImportName)]
    internal static partial void rd_kafka_destroy(IntPtr rk);

    [LibraryImport(LibRdKafka.ImportName)]
    internal static partial IntPtr rd_kafka_mock_cluster_new(IntPtr rk, int brokerCount);

    [LibraryImport(LibRdKafka.ImportName)]
    internal static partial void rd_kafka_mock_cluster_destroy(IntPtr mc);

    [LibraryImport(LibRdKafka.ImportName)]
    internal static partial IntPtr rd_kafka_mock_cluster_bootstraps(MockClusterHandle mc);

    [LibraryImport(LibRdKafka.ImportName, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int rd_kafka_mock_topic_create(MockClusterHandle mc, string topic, int partitionCount, int replicationFactor);

    [LibraryImport(LibRdKafka.ImportName)]
    internal static partial int rd_kafka_mock_broker_set_down(MockClusterHandle mc, int brokerId);

    [LibraryImport(LibRdKafka.ImportName)]
    internal static partial int rd_kafka_mock_broker_set_up(MockClusterHandle mc, int brokerId);

    [LibraryImport(LibRdKafka.ImportName)]
    internal static partial int rd_kafka_mock_broker_set_rtt(MockClusterHandle mc, int brokerId, int rttMs);

    [LibraryImport(LibRdKafka.ImportName, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int rd_kafka_mock_partition_set_leader(MockClusterHandle mc, string topic, int partition, int brokerId);

    [LibraryImport(LibRdKafka.ImportName)]
    internal static partial void rd_kafka_mock_set_controller_id(MockClusterHandle mc, int brokerId);

    [LibraryImport(LibRdKafka.ImportName)]
    internal static partial void rd_kafka_mock_group_initial_rebalance_delay_ms(MockClusterHandle mc, int delayMs);

    [LibraryImport(LibRdKafka.ImportName)]
    internal static partial void rd_kafka_mock_push_request_errors_array(MockClusterHandle mc, short apiKey, nuint count, int* errors);

    [LibraryImport(LibRdKafka.ImportName)]
    internal static partial void rd_kafka_mock_clear_request_errors(MockClusterHandle mc, short apiKey);
}
