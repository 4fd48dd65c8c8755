using System.Runtime.InteropServices;
using Confluent.Kafka;

namespace StreamBert.Kafka.Native;

/// <summary>
/// Owns a <c>rd_kafka_mock_cluster_t</c> together with the <c>rd_kafka_t</c> it was created on.
/// The cluster runs on that client's internals, so the client must outlive it: release destroys
/// the cluster first, then the client. Being a <see cref="SafeHandle"/>, a call in flight on
/// another thread keeps both alive until it returns.
/// </summary>
internal sealed unsafe class MockClusterHandle : SafeHandle
{
    private const int ErrorBufferSize = 512;

    private readonly IntPtr _owner;

    private MockClusterHandle(IntPtr cluster, IntPtr owner)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        _owner = owner;
        SetHandle(cluster);
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    public static MockClusterHandle Create(int brokerCount)
    {
        var errstr = stackalloc byte[ErrorBufferSize];
        var conf = MockClusterNative.rd_kafka_conf_new();

        // The owning client never connects anywhere; without a bootstrap list librdkafka would log
        // a configuration warning to stderr on every start, so only errors are logged.
        if (MockClusterNative.rd_kafka_conf_set(conf, "log_level", "3", errstr, ErrorBufferSize) != MockClusterNative.ConfOk
            || MockClusterNative.rd_kafka_conf_set(conf, "client.id", "streambert-embedded-broker", errstr, ErrorBufferSize) != MockClusterNative.ConfOk)
        {
            MockClusterNative.rd_kafka_conf_destroy(conf);
            throw Failure("rd_kafka_conf_set", errstr);
        }

        // On success rd_kafka_new takes ownership of conf; on failure the caller still owns it.
        var owner = MockClusterNative.rd_kafka_new(MockClusterNative.ProducerType, conf, errstr, ErrorBufferSize);
        if (owner == IntPtr.Zero)
        {
            MockClusterNative.rd_kafka_conf_destroy(conf);
            throw Failure("rd_kafka_new", errstr);
        }

        var cluster = MockClusterNative.rd_kafka_mock_cluster_new(owner, brokerCount);
        if (cluster == IntPtr.Zero)
        {
            MockClusterNative.rd_kafka_destroy(owner);
            throw new KafkaException(new Error(ErrorCode.Local_Fail, "rd_kafka_mock_cluster_new failed (see librdkafka log)."));
        }

        return new MockClusterHandle(cluster, owner);
    }

    protected override bool ReleaseHandle()
    {
        MockClusterNative.rd_kafka_mock_cluster_destroy(handle);
        MockClusterNative.rd_kafka_destroy(_owner);
        return true;
    }

    private static KafkaException Failure(string function, byte* errstr)
    {
        var message = Marshal.PtrToStringUTF8((IntPtr)errstr) ?? string.Empty;
        return new KafkaException(new Error(ErrorCode.Local_Fail, $"{function} failed: {message}"));
    }
}
