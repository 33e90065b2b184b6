package motoserver

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
)

func TestSNSMessagesRecorded(t *testing.T) {
	s := Start(t)
	client := sns.NewFromConfig(s.Config(t))
	ctx := context.Background()
	topic, err := client.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("t")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Publish(ctx, &sns.PublishInput{
		TopicArn: topic.TopicArn, Message: aws.String("hello"), Subject: aws.String("subj"),
		MessageAttributes: map[string]types.MessageAttributeValue{"severity": {DataType: aws.String("String"), StringValue: aws.String("high")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs := s.SNSMessages(t)
	if len(msgs) != 1 || msgs[0].Message != "hello" || msgs[0].Subject != "subj" {
		t.Fatalf("messages = %+v", msgs)
	}
	if msgs[0].Attributes["severity"].StringValue != "high" {
		t.Fatalf("attributes = %+v", msgs[0].Attributes)
	}
}

func TestCreateTable(t *testing.T) {
	s := Start(t)
	s.CreateTable(t, "warden")
}
