using System.Buffers.Binary;
using Confluent.Kafka;

namespace StreamBert.Kafka.Tests;

/// <summary>Big-endian 32-bit integers, so tests can carry a sequence number as the value.</summary>
internal sealed class Int32Serde : ISerializer<int>, IDeserializer<int>
{
    public static readonly Int32Serde Instance = new();

    public byte[] Serialize(int data, SerializationContext context)
    {
        var bytes = new byte[sizeof(int)];
        BinaryPrimitives.WriteInt32BigEndian(bytes, data);
        return bytes;
    }

    public int Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context) =>
        BinaryPrimitives.ReadInt32BigEndian(data);
}
