namespace StreamBert.Kafka;
